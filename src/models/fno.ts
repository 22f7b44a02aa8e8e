/**
 * Fourier neural operators (Li et al., ICLR 2021) as functional tfjs models, in the authors'
 * architecture (neuraloperator `fourier_1d.py`, the version the PETScML paper re-ran; CASES.md 2.4):
 *
 *   (a(x), x) --fc0--> width --[K_l + W_l, GELU after all but the last]x4--> --fc1, GELU--> --fc2--> u(x)
 *
 * K_l is the spectral convolution (the lowest `modes` Fourier modes times a complex width x width
 * matrix each; written as products with fixed cos/sin matrices, because tfjs has no gradient for
 * FFT or complex ops and no second derivative for einsum), W_l a 1x1 convolution with bias.
 * Initialisation as PyTorch's defaults there: spectral weights scale * U[0, 1) with
 * scale = 1 / (width * width), real and imaginary parts alike; linear and 1x1-convolution weights and
 * biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)). GELU is the exact (erf) one, PyTorch's F.gelu default.
 */
import * as tf from '@tensorflow/tfjs';
import { dftBasis, fourierLayer1d, geluErf, geluTanh, type DftBasis } from '../functions/layers';
import { Random } from '../problems/darcy1d';

export interface Fno1dOptions {
  /** Grid points of every input and output function (s). */
  resolution: number;
  /** Channels inside the Fourier layers (default 64, the paper's). */
  width?: number;
  /** Fourier modes kept per layer (default 16; at most resolution / 2). */
  modes?: number;
  /** Fourier layers (default 4). */
  layers?: number;
  /** Units of the projection layer fc1 (default 128). */
  projection?: number;
  /** 'erf' (default, the authors') or 'tanh' (the tanh approximation of GELU). */
  gelu?: 'erf' | 'tanh';
  /** Seed of the initial weights (default 0). */
  seed?: number;
}

/** A model for createTfjsFunction: input [batch, s] (a on the grid), output [batch, s]. */
export interface Fno1d {
  readonly params: Record<string, tf.Tensor>;
  apply(p: Record<string, tf.Tensor>, x: tf.Tensor): tf.Tensor;
  readonly resolution: number;
  readonly width: number;
  readonly modes: number;
  readonly layers: number;
  /** Number of real parameters (a complex weight counts as two). */
  readonly parameterCount: number;
  /** Frees the weights and the fixed DFT matrices. */
  dispose(): void;
}

function positive(name: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new RangeError(`petscml: fno1d: ${name} must be an integer >= ${min}, got ${typeof v === 'number' ? v : typeof v}`);
  }
  return v;
}

/** The FNO-1D of the paper's Burgers case (549,569 parameters at width 64, 16 modes). */
export function fno1d(opts: Fno1dOptions): Fno1d {
  if (opts === null || typeof opts !== 'object') throw new TypeError('petscml: fno1d: expected an options object with a resolution');
  const s = positive('resolution', opts.resolution, 2);
  const width = positive('width', opts.width ?? 64);
  const modes = positive('modes', opts.modes ?? 16);
  const depth = positive('layers', opts.layers ?? 4);
  const proj = positive('projection', opts.projection ?? 128);
  if (2 * modes > s) throw new RangeError(`petscml: fno1d: modes (${modes}) must be at most resolution / 2 (${s / 2})`);
  const gelu = opts.gelu ?? 'erf';
  if (gelu !== 'erf' && gelu !== 'tanh') throw new RangeError(`petscml: fno1d: gelu must be 'erf' or 'tanh', got '${String(gelu)}'`);
  const act = gelu === 'erf' ? geluErf : geluTanh;
  const rng = new Random(opts.seed ?? 0);

  const uniform = (shape: number[], lo: number, hi: number) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * rng.uniform();
    return tf.tensor(v, shape);
  };
  const params: Record<string, tf.Tensor> = {};
  const linear = (name: string, fanIn: number, fanOut: number) => {
    const b = 1 / Math.sqrt(fanIn);
    params[`${name}_w`] = uniform([fanIn, fanOut], -b, b);
    params[`${name}_b`] = uniform([fanOut], -b, b);
  };
  linear('fc0', 2, width);
  const scale = 1 / (width * width);
  for (let l = 0; l < depth; l++) {
    params[`k${l}_re`] = uniform([modes, width, width], 0, scale);
    params[`k${l}_im`] = uniform([modes, width, width], 0, scale);
    linear(`w${l}`, width, width);
  }
  linear('fc1', width, proj);
  linear('fc2', proj, 1);

  const basis: DftBasis = dftBasis(s, modes);
  // The authors' coordinate channel: linspace(0, 1, s), both ends included.
  const grid = tf.tensor3d(Float32Array.from({ length: s }, (_, j) => j / (s - 1)), [1, s, 1]);
  const dense = (h: tf.Tensor, p: Record<string, tf.Tensor>, name: string) => tf.add(tf.matMul(h as tf.Tensor2D, p[`${name}_w`] as tf.Tensor2D), p[`${name}_b`]);

  const apply = (p: Record<string, tf.Tensor>, x: tf.Tensor): tf.Tensor => {
    if (x.rank !== 2 || x.shape[1] !== s) throw new RangeError(`petscml: fno1d: expected inputs of shape [batch, ${s}], got [${x.shape.join(', ')}]`);
    const batch = x.shape[0];
    const inp = tf.concat([tf.reshape(x, [batch, s, 1]), tf.tile(grid, [batch, 1, 1])], 2);
    let h = tf.reshape(dense(tf.reshape(inp, [batch * s, 2]), p, 'fc0'), [batch, s, width]) as tf.Tensor3D;
    for (let l = 0; l < depth; l++) {
      const spectral = fourierLayer1d(h, p[`k${l}_re`] as tf.Tensor3D, p[`k${l}_im`] as tf.Tensor3D, basis);
      const local = tf.reshape(dense(tf.reshape(h, [batch * s, width]), p, `w${l}`), [batch, s, width]);
      const sum = tf.add(spectral, local);
      h = (l < depth - 1 ? act(sum) : sum) as tf.Tensor3D;
    }
    const q = act(dense(tf.reshape(h, [batch * s, width]), p, 'fc1'));
    return tf.reshape(dense(q, p, 'fc2'), [batch, s]);
  };

  let count = 0;
  for (const t of Object.values(params)) count += t.size;
  return {
    params, apply, resolution: s, width, modes, layers: depth, parameterCount: count,
    dispose() {
      tf.dispose(Object.values(params));
      tf.dispose(grid);
      basis.dispose();
    },
  };
}
