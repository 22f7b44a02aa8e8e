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
import { exactTensor } from '../functions/backend';
import { dftBasis, dftBasis3d, fourierLayer1d, fourierLayer3d, fourierModes3d, geluErf, geluTanh, type DftBasis } from '../functions/layers';
import { integerOption, TorchInit } from './init';

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

const positive = (name: string, v: unknown, min = 1) => integerOption('fno1d', name, v, min);

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
  const init = new TorchInit(opts.seed ?? 0);
  const params: Record<string, tf.Tensor> = {};
  const uniform = (shape: number[], lo: number, hi: number) => init.uniform(shape, lo, hi);
  const linear = (name: string, fanIn: number, fanOut: number) => init.linear(params, name, fanIn, fanOut);
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
  const grid = exactTensor(Float64Array.from({ length: s }, (_, j) => j / (s - 1)), [1, s, 1]);
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

export interface Fno3dOptions {
  /** Spatial grid points per side (s; the grid is s x s). */
  resolution: number;
  /** Input snapshots (T_in, default 10). */
  inputSteps?: number;
  /** Output snapshots (T, default 40: the paper's 10 -> 40). */
  outputSteps?: number;
  /** Zero padding appended to the time axis inside the Fourier layers (default 6: 40 -> 46). */
  padding?: number;
  /** Channels inside the Fourier layers (default 20). */
  width?: number;
  /** Fourier modes kept along x, y and t (default [8, 8, 8]). */
  modes?: readonly [number, number, number] | number;
  /** Fourier layers (default 4). */
  layers?: number;
  /** Units of the projection layer fc1 (default 128). */
  projection?: number;
  gelu?: 'erf' | 'tanh';
  /**
   * Per-output-point decoder applied to the model's output, y = z (std + eps) + mean, as the
   * authors decode with the target normaliser before the loss (CASES.md 3.4). Length s*s*T each.
   */
  decode?: { mean: ArrayLike<number>; std: ArrayLike<number>; eps?: number };
  seed?: number;
}

/** A model for createTfjsFunction: input [batch, s*s*T_in] (layout [x, y, t]), output [batch, s*s*T]. */
export interface Fno3d {
  readonly params: Record<string, tf.Tensor>;
  apply(p: Record<string, tf.Tensor>, x: tf.Tensor): tf.Tensor;
  readonly resolution: number;
  readonly inputSteps: number;
  readonly outputSteps: number;
  readonly width: number;
  readonly modes: readonly [number, number, number];
  readonly layers: number;
  readonly parameterCount: number;
  dispose(): void;
}

/**
 * The FNO-3D of the paper's Navier-Stokes case (neuraloperator `fourier_3d.py`, CASES.md 3.4):
 * the T_in input snapshots are repeated along a new time axis of length T, the grid coordinates
 * (x, y, t; linspace(0, 1) each) appended, fc0 to `width` channels, the time axis zero-padded,
 * four 3-D Fourier layers plus 1x1x1 convolutions (GELU after all but the last), the padding
 * cropped, fc1 + GELU, fc2. 6,558,377 parameters at width 20, modes 8 (the FNO paper's 6,558,537
 * also counts 160 of four BatchNorm3d modules the script builds and never uses).
 */
export function fno3d(opts: Fno3dOptions): Fno3d {
  if (opts === null || typeof opts !== 'object') throw new TypeError('petscml: fno3d: expected an options object with a resolution');
  const where = 'fno3d';
  const int = (name: string, v: unknown, min: number) => integerOption(where, name, v, min);
  const s = int('resolution', opts.resolution, 2);
  const tIn = int('inputSteps', opts.inputSteps ?? 10, 1);
  const tOut = int('outputSteps', opts.outputSteps ?? 40, 1);
  const pad = int('padding', opts.padding ?? 6, 0);
  const width = int('width', opts.width ?? 20, 1);
  const rawModes = opts.modes ?? 8;
  const modes = (typeof rawModes === 'number' ? [rawModes, rawModes, rawModes] : rawModes) as [number, number, number];
  if (!Array.isArray(modes) || modes.length !== 3) throw new RangeError(`petscml: ${where}: modes must be a number or [mx, my, mt]`);
  modes.forEach((m, a) => int(`modes[${a}]`, m, 1));
  const depth = int('layers', opts.layers ?? 4, 1);
  const proj = int('projection', opts.projection ?? 128, 1);
  const nt = tOut + pad;
  if (2 * modes[0] > s || 2 * modes[1] > s) throw new RangeError(`petscml: ${where}: spatial modes (${modes[0]}, ${modes[1]}) must be at most resolution / 2 (${s / 2})`);
  if (2 * modes[2] > nt) throw new RangeError(`petscml: ${where}: time modes (${modes[2]}) must be at most (outputSteps + padding) / 2 (${nt / 2})`);
  const gelu = opts.gelu ?? 'erf';
  if (gelu !== 'erf' && gelu !== 'tanh') throw new RangeError(`petscml: ${where}: gelu must be 'erf' or 'tanh', got '${String(gelu)}'`);
  const act = gelu === 'erf' ? geluErf : geluTanh;
  const outPoints = s * s * tOut;
  let decodeScale: tf.Tensor | null = null, decodeShift: tf.Tensor | null = null;
  if (opts.decode !== undefined) {
    const { mean, std } = opts.decode;
    const eps = opts.decode.eps ?? 1e-5;
    if (!mean || !std || mean.length !== outPoints || std.length !== outPoints) {
      throw new RangeError(`petscml: ${where}: decode.mean and decode.std must have s*s*outputSteps = ${outPoints} values, got ${mean?.length} and ${std?.length}`);
    }
    decodeScale = exactTensor(Float64Array.from(std, (v) => v + eps), [1, outPoints]) as tf.Tensor2D;
    decodeShift = exactTensor(Float64Array.from(mean), [1, outPoints]) as tf.Tensor2D;
  }
  const init = new TorchInit(opts.seed ?? 0);
  const params: Record<string, tf.Tensor> = {};
  const uniform = (shape: number[], lo: number, hi: number) => init.uniform(shape, lo, hi);
  const linear = (name: string, fanIn: number, fanOut: number) => init.linear(params, name, fanIn, fanOut);
  const channels = tIn + 3;
  linear('fc0', channels, width);
  const M = fourierModes3d(modes);
  const scale = 1 / (width * width);
  for (let l = 0; l < depth; l++) {
    params[`k${l}_re`] = uniform([M, width, width], 0, scale);
    params[`k${l}_im`] = uniform([M, width, width], 0, scale);
    linear(`w${l}`, width, width);
  }
  linear('fc1', width, proj);
  linear('fc2', proj, 1);

  const basis = dftBasis3d([s, s, nt], modes);
  const lin = (n: number) => Float64Array.from({ length: n }, (_, j) => (n === 1 ? 0 : j / (n - 1)));
  const gx = lin(s), gy = lin(s), gt = lin(tOut);
  const gridValues = new Float64Array(s * s * tOut * 3);
  for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) for (let k = 0; k < tOut; k++) {
    const o = ((i * s + j) * tOut + k) * 3;
    gridValues[o] = gx[i]; gridValues[o + 1] = gy[j]; gridValues[o + 2] = gt[k];
  }
  const grid = exactTensor(gridValues, [1, s, s, tOut, 3]);
  const dense = (h: tf.Tensor, p: Record<string, tf.Tensor>, name: string) => tf.add(tf.matMul(h as tf.Tensor2D, p[`${name}_w`] as tf.Tensor2D), p[`${name}_b`]);
  const inPoints = s * s * tIn;

  const apply = (p: Record<string, tf.Tensor>, x: tf.Tensor): tf.Tensor => {
    if (x.rank !== 2 || x.shape[1] !== inPoints) throw new RangeError(`petscml: fno3d: expected inputs of shape [batch, ${inPoints}] (s*s*inputSteps), got [${x.shape.join(', ')}]`);
    const batch = x.shape[0];
    const rep = tf.tile(tf.reshape(x, [batch, s, s, 1, tIn]), [1, 1, 1, tOut, 1]);
    const inp = tf.concat([rep, tf.tile(grid, [batch, 1, 1, 1, 1])], 4);
    let h = tf.reshape(dense(tf.reshape(inp, [-1, channels]), p, 'fc0'), [batch, s, s, tOut, width]);
    if (pad > 0) h = tf.pad(h, [[0, 0], [0, 0], [0, 0], [0, pad], [0, 0]]);
    for (let l = 0; l < depth; l++) {
      const spectral = fourierLayer3d(h, p[`k${l}_re`] as tf.Tensor3D, p[`k${l}_im`] as tf.Tensor3D, basis);
      const local = tf.reshape(dense(tf.reshape(h, [-1, width]), p, `w${l}`), h.shape);
      const sum = tf.add(spectral, local);
      h = l < depth - 1 ? act(sum) : sum;
    }
    if (pad > 0) h = tf.slice(h, [0, 0, 0, 0, 0], [batch, s, s, tOut, width]);
    const q = act(dense(tf.reshape(h, [-1, width]), p, 'fc1'));
    const z = tf.reshape(dense(q, p, 'fc2'), [batch, outPoints]);
    return decodeScale && decodeShift ? tf.add(tf.mul(z, decodeScale), decodeShift) : z;
  };

  let count = 0;
  for (const t of Object.values(params)) count += t.size;
  return {
    params, apply, resolution: s, inputSteps: tIn, outputSteps: tOut, width, modes: [modes[0], modes[1], modes[2]], layers: depth, parameterCount: count,
    dispose() {
      tf.dispose(Object.values(params));
      tf.dispose(grid);
      if (decodeScale) tf.dispose([decodeScale, decodeShift as tf.Tensor]);
      basis.dispose();
    },
  };
}
