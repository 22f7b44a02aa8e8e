/**
 * DeepONets (Lu, Jin, Pang, Zhang, Karniadakis, Nat. Mach. Intell. 2021) as functional tfjs
 * models, in DeepXDE's semantics (CASES.md 4.4, 5.4):
 *
 * - `deeponet`: the unstacked DeepONet of the diffusion-reaction case. Branch FNN [m, w, ..., w]
 *   with the activation on its hidden layers and a LINEAR last layer; trunk FNN [d, w, ..., w] with
 *   the activation on EVERY layer, its last included (DeepXDE's OpNN and its PyTorch DeepONet both
 *   do this); output sum_k b_k t_k + b0 with one scalar bias b0.
 * - `podDeeponet`: the POD-DeepONet of the advection case: the trunk is replaced by a fixed POD
 *   basis of the training outputs (see pod.ts), output (branch(u0) . (basis sqrt(points))^T) / p
 *   + mean, no trunk net and no extra bias.
 *
 * Initialisation as DeepXDE's 'Glorot normal' with its TensorFlow backends
 * (tf.keras.initializers.glorot_normal = VarianceScaling(1, 'fan_avg', 'truncated_normal')):
 * normal samples redrawn while outside two standard deviations, the pre-truncation standard deviation
 * sqrt(2 / (fan_in + fan_out)) / 0.87962566103423978, so that the truncated distribution has standard
 * deviation sqrt(2 / (fan_in + fan_out)) exactly. Biases (and b0) start at zero. DeepXDE's PyTorch
 * backend would use torch's untruncated xavier_normal_ instead; the original scripts call
 * deepxde.maps, the TensorFlow-only API of their time.
 */
import * as tf from '@tensorflow/tfjs';
import { exactTensor } from '../functions/backend';
import { Random } from '../problems/darcy1d';
import type { PodBasis } from './pod';

/** scipy.stats.truncnorm(-2, 2).std(): the standard deviation left after truncating at two sigma. */
const TRUNCATED_STD = 0.87962566103423978;

export type DeepONetActivation = 'relu' | 'tanh';

export interface DeepONetOptions {
  /** Sensors m: the number of input-function values at the start of each input row. */
  sensors: number;
  /** Dimension d of the output coordinates y (default 2: (x, t)). */
  coordinates?: number;
  /**
   * Output width p of both nets (default 40): the number of basis functions the branch weights
   * and the trunk supplies.
   */
  width?: number;
  /** Layers of each net after its input (default 2, DeepXDE's [m, w, w] and [d, w, w]). */
  depth?: number;
  /**
   * Branch layer widths after the input, DeepXDE's layer_sizes_branch without its first entry
   * (default depth copies of width). The last layer is linear, the others activated.
   */
  branch?: number[];
  /** Trunk layer widths after the input (default depth copies of width), all activated. */
  trunk?: number[];
  /** Activation (default 'relu', the diffusion-reaction case's). */
  activation?: DeepONetActivation;
  /** Seed of the initial weights (default 0). */
  seed?: number;
}

/**
 * A model for createTfjsFunction: input rows [u(sensor_1..m), y_1..d] ([batch, m + d]),
 * output [batch, 1].
 */
export interface DeepONet {
  readonly params: Record<string, tf.Tensor>;
  apply(p: Record<string, tf.Tensor>, x: tf.Tensor): tf.Tensor;
  readonly sensors: number;
  readonly coordinates: number;
  /** Layer widths of the branch after its input. */
  readonly branch: readonly number[];
  /** Layer widths of the trunk after its input. */
  readonly trunk: readonly number[];
  readonly activation: DeepONetActivation;
  readonly parameterCount: number;
  dispose(): void;
}

function integer(fn: string, name: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new RangeError(`petscml: ${fn}: ${name} must be an integer >= ${min}, got ${typeof v === 'number' ? v : typeof v}`);
  }
  return v;
}

function widths(fn: string, name: string, v: unknown): number[] {
  if (!Array.isArray(v) || v.length === 0) {
    throw new RangeError(`petscml: ${fn}: ${name} must be a non-empty array of layer widths, got ${Array.isArray(v) ? '[]' : typeof v}`);
  }
  return v.map((w, i) => integer(fn, `${name}[${i}]`, w));
}

function activationOf(fn: string, v: unknown): { name: DeepONetActivation; f: (x: tf.Tensor) => tf.Tensor } {
  if (v === 'relu') return { name: v, f: tf.relu };
  if (v === 'tanh') return { name: v, f: tf.tanh };
  throw new RangeError(`petscml: ${fn}: activation must be 'relu' or 'tanh', got '${String(v)}'`);
}

function optionsObject(fn: string, opts: unknown, what: string): void {
  if (opts === null || typeof opts !== 'object') throw new TypeError(`petscml: ${fn}: expected an options object with ${what}`);
}

/** DeepXDE's 'Glorot normal' (truncated, see the module comment), as a [fanIn, fanOut] kernel. */
export function glorotNormal(rng: Random, fanIn: number, fanOut: number): tf.Tensor2D {
  const sd = Math.sqrt(2 / (fanIn + fanOut)) / TRUNCATED_STD;
  const v = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < v.length; i++) {
    let z: number;
    do z = rng.normal(); while (Math.abs(z) > 2);
    v[i] = sd * z;
  }
  return tf.tensor2d(v, [fanIn, fanOut]);
}

/** Registers `${name}{l}_w` / `_b` for the layers [input, ...sizes] (Glorot normal, zero biases). */
function fnnParams(params: Record<string, tf.Tensor>, rng: Random, name: string, input: number, sizes: readonly number[]): void {
  let fanIn = input;
  sizes.forEach((fanOut, l) => {
    params[`${name}${l}_w`] = glorotNormal(rng, fanIn, fanOut);
    params[`${name}${l}_b`] = tf.zeros([fanOut]);
    fanIn = fanOut;
  });
}

/** The FNN forward pass; `last` says whether the last layer is activated too. */
function fnn(p: Record<string, tf.Tensor>, name: string, layers: number, h: tf.Tensor, act: (x: tf.Tensor) => tf.Tensor, last: boolean): tf.Tensor {
  for (let l = 0; l < layers; l++) {
    const z = tf.add(tf.matMul(h as tf.Tensor2D, p[`${name}${l}_w`] as tf.Tensor2D), p[`${name}${l}_b`]);
    h = l < layers - 1 || last ? act(z) : z;
  }
  return h;
}

function countOf(params: Record<string, tf.Tensor>): number {
  let n = 0;
  for (const t of Object.values(params)) n += t.size;
  return n;
}

/**
 * The unstacked DeepONet. At width 40, depth 2 and m = 100 it has 7,441 parameters (the CPU
 * variant of CASES.md 4.7); at width 100, 30,601.
 */
export function deeponet(opts: DeepONetOptions): DeepONet {
  const fn = 'deeponet';
  optionsObject(fn, opts, 'sensors');
  const m = integer(fn, 'sensors', opts.sensors);
  const d = integer(fn, 'coordinates', opts.coordinates ?? 2);
  const width = integer(fn, 'width', opts.width ?? 40);
  const depth = integer(fn, 'depth', opts.depth ?? 2);
  const branch = opts.branch === undefined ? Array<number>(depth).fill(width) : widths(fn, 'branch', opts.branch);
  const trunk = opts.trunk === undefined ? Array<number>(depth).fill(width) : widths(fn, 'trunk', opts.trunk);
  const show = (a: number[]) => `[${a.join(', ')}]`;
  if (branch[branch.length - 1] !== trunk[trunk.length - 1]) {
    throw new RangeError(`petscml: ${fn}: branch ${show(branch)} and trunk ${show(trunk)} must end in the same width (the number of basis functions)`);
  }
  for (const [name, list] of [['branch', opts.branch], ['trunk', opts.trunk]] as const) {
    if (list === undefined) continue;
    // An explicit list wins over width and depth; one that contradicts them is a mistake, not a choice.
    if (opts.width !== undefined && list[list.length - 1] !== width) {
      throw new RangeError(`petscml: ${fn}: width (${width}) conflicts with ${name} ${show(list)}, whose last entry is the width: give one of them`);
    }
    if (opts.depth !== undefined && list.length !== depth) {
      throw new RangeError(`petscml: ${fn}: depth (${depth}) conflicts with ${name} ${show(list)} (${list.length} layers): give one of them`);
    }
  }
  const act = activationOf(fn, opts.activation ?? 'relu');
  const rng = new Random(opts.seed ?? 0);

  const params: Record<string, tf.Tensor> = {};
  fnnParams(params, rng, 'branch', m, branch);
  fnnParams(params, rng, 'trunk', d, trunk);
  params.b0 = tf.zeros([1]);

  const apply = (p: Record<string, tf.Tensor>, x: tf.Tensor): tf.Tensor => {
    if (x.rank !== 2 || x.shape[1] !== m + d) {
      throw new RangeError(`petscml: ${fn}: expected input rows [u at ${m} sensors, ${d} coordinates], shape [batch, ${m + d}], got [${x.shape.join(', ')}]`);
    }
    const batch = x.shape[0];
    const b = fnn(p, 'branch', branch.length, tf.slice(x, [0, 0], [batch, m]), act.f, false);
    const t = fnn(p, 'trunk', trunk.length, tf.slice(x, [0, m], [batch, d]), act.f, true);
    return tf.add(tf.sum(tf.mul(b, t), 1, true), p.b0);
  };

  return {
    params, apply, sensors: m, coordinates: d, branch, trunk, activation: act.name, parameterCount: countOf(params),
    dispose() { tf.dispose(Object.values(params)); },
  };
}

export interface PodDeepONetOptions {
  /** Sensors: values of the input function per row (40 in the advection case). */
  sensors: number;
  /** The POD basis of the training outputs (podBasis). */
  basis: PodBasis;
  /** Hidden width of the branch (default 512). */
  width?: number;
  /** Hidden layers of the branch (default 1: DeepXDE's [sensors, width, p]). */
  depth?: number;
  /** Activation of the hidden layers (default 'relu'). */
  activation?: DeepONetActivation;
  /** Seed of the initial weights (default 0). */
  seed?: number;
}

/** A model for createTfjsFunction: input [batch, sensors] (u0), output [batch, points]. */
export interface PodDeepONet {
  readonly params: Record<string, tf.Tensor>;
  apply(p: Record<string, tf.Tensor>, x: tf.Tensor): tf.Tensor;
  readonly sensors: number;
  /** POD modes p (the branch's output width). */
  readonly modes: number;
  /** Output points. */
  readonly points: number;
  readonly parameterCount: number;
  /** Frees the weights and the fixed basis and mean. */
  dispose(): void;
}

/**
 * The POD-DeepONet: branch FNN [sensors, width, p] (ReLU hidden, linear output), 20,992 + 513 p
 * parameters at the defaults with 40 sensors.
 */
export function podDeeponet(opts: PodDeepONetOptions): PodDeepONet {
  const fn = 'podDeeponet';
  optionsObject(fn, opts, 'sensors and basis');
  const m = integer(fn, 'sensors', opts.sensors);
  const width = integer(fn, 'width', opts.width ?? 512);
  const depth = integer(fn, 'depth', opts.depth ?? 1);
  const act = activationOf(fn, opts.activation ?? 'relu');
  const pod = opts.basis;
  if (pod === null || typeof pod !== 'object' || !(pod.basis instanceof Float64Array) || !(pod.mean instanceof Float64Array)) {
    throw new TypeError(`petscml: ${fn}: basis must be the result of podBasis ({ mean, basis, p, points }), got ${pod === null ? 'null' : typeof pod}`);
  }
  const p = integer(fn, 'basis.p', pod.p);
  const points = integer(fn, 'basis.points', pod.points);
  if (pod.mean.length !== points || pod.basis.length !== points * p) {
    throw new RangeError(`petscml: ${fn}: basis has p = ${p} and points = ${points}, so needs a mean of ${points} and a basis of ${points * p} values; ` +
      `got ${pod.mean.length} and ${pod.basis.length}`);
  }
  const rng = new Random(opts.seed ?? 0);
  const params: Record<string, tf.Tensor> = {};
  fnnParams(params, rng, 'branch', m, [...Array<number>(depth).fill(width), p]);

  // The authors' scaling, components^T * sqrt(points) then / p, folded into one fixed [p, points]
  // matrix in float64 before the single rounding to float32 (none on petscml-float64).
  const scale = Math.sqrt(points) / p;
  const bt = new Float64Array(p * points);
  for (let j = 0; j < points; j++) for (let k = 0; k < p; k++) bt[k * points + j] = pod.basis[j * p + k] * scale;
  const basisT = exactTensor(bt, [p, points]) as tf.Tensor2D;
  const mean = exactTensor(pod.mean, [points]);

  const apply = (q: Record<string, tf.Tensor>, x: tf.Tensor): tf.Tensor => {
    if (x.rank !== 2 || x.shape[1] !== m) throw new RangeError(`petscml: ${fn}: expected inputs of shape [batch, ${m}], got [${x.shape.join(', ')}]`);
    const b = fnn(q, 'branch', depth + 1, x, act.f, false);
    return tf.add(tf.matMul(b as tf.Tensor2D, basisT), mean);
  };

  return {
    params, apply, sensors: m, modes: p, points, parameterCount: countOf(params),
    dispose() {
      tf.dispose(Object.values(params));
      tf.dispose([basisT, mean]);
    },
  };
}
