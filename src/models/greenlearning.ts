/**
 * The Green's-function network of GreenLearning for 2-D Poisson (Boulle, Halikias, Townsend,
 * PNAS 2023; CASES.md 6.4), as a functional tfjs model:
 *
 *   G(y, x) = fc_depth(R_{depth-1}(fc_{depth-1}( ... R_0(fc_0([y1, y2, x1, x2])) ... )))
 *
 * an MLP 4 -> width x depth -> 1 with an independent trainable rational (3, 2) activation after
 * every hidden layer, evaluated once per step on the s^4 points of the grid linspace(0, 1, s) in 4-D
 * and reshaped to an s^2 x s^2 matrix G[p, q] (row p = source point y of f, column q = output point
 * x). The prediction for input rows f [batch, s^2] is the quadrature u(x_q) = sum_p f(y_p) G[p, q] / s^2.
 *
 * Coordinates: p = i s + j is f's entry [i][j] (row-major), likewise q = k s + l; with indexing
 * 'ij' (default) the network sees (t_i, t_j, t_k, t_l), t = linspace(0, 1, s). The authors' grid,
 * np.meshgrid's default 'xy' indexing, swaps the first two: (t_j, t_i, t_k, t_l). The model class
 * and the distribution of the initial model are the same either way (the swap permutes two rows of
 * the first weight matrix, whose entries are i.i.d.); 'xy' reproduces the authors' exactly, for
 * their trained weights.
 *
 * Rational activations: the authors store 4 x 2 coefficients over the powers (z^3, z^2, z, 1),
 * column 0 for P, column 1 for Q, with Q's z^3 entry zeroed before every forward pass. Here each is
 * `a` [4] and `b` [3] in ascending powers for layers.ts's rational(), 7 trainable numbers, all
 * trainable as in the original (Q's z coefficient starts at 0). Initialisation RATIONAL_RELU_INIT,
 * whose lists are in descending powers (tf.math.polyval's order, the RationalNets convention).
 * Linear layers: PyTorch's nn.Linear default, weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
 */
import * as tf from '@tensorflow/tfjs';
import { exactScalar, exactTensor } from '../functions/backend';
import { rational, RATIONAL_RELU_INIT } from '../functions/layers';
import { integerOption, TorchInit } from './init';

export interface GreenLearningOptions {
  /** Grid points s per side: inputs and outputs have s^2 values (29 in the paper). */
  resolution: number;
  /** Units of every hidden layer (default 50). */
  width?: number;
  /** Hidden layers, each followed by a rational activation (default 4). */
  depth?: number;
  /** Coordinate order of the 4-D grid: 'ij' (default) or the authors' 'xy' (see the module comment). */
  indexing?: 'ij' | 'xy';
  /** Seed of the initial weights (default 0). */
  seed?: number;
}

/** A model for createTfjsFunction: input [batch, s^2] (f on the grid), output [batch, s^2]. */
export interface GreenLearning {
  readonly params: Record<string, tf.Tensor>;
  apply(p: Record<string, tf.Tensor>, x: tf.Tensor): tf.Tensor;
  /** The Green's function matrix G [s^2, s^2] at parameters p (default: the model's own); the caller disposes it. */
  kernel(p?: Record<string, tf.Tensor>): tf.Tensor2D;
  readonly resolution: number;
  readonly width: number;
  readonly depth: number;
  /** Trainable numbers: linear weights and biases plus 7 per rational activation (7,979 at the defaults). */
  readonly parameterCount: number;
  /** The authors' count, 8 stored coefficients per activation, the forced zero included (7,983). */
  readonly storedParameterCount: number;
  /** Frees the weights and the fixed grid. */
  dispose(): void;
}

const integer = (name: string, v: unknown, min = 1) => integerOption('greenLearning', name, v, min);


export function greenLearning(opts: GreenLearningOptions): GreenLearning {
  if (opts === null || typeof opts !== 'object') throw new TypeError('petscml: greenLearning: expected an options object with a resolution');
  const s = integer('resolution', opts.resolution, 2);
  const width = integer('width', opts.width ?? 50);
  const depth = integer('depth', opts.depth ?? 4);
  const indexing = opts.indexing ?? 'ij';
  if (indexing !== 'ij' && indexing !== 'xy') throw new RangeError(`petscml: greenLearning: indexing must be 'ij' or 'xy', got '${String(indexing)}'`);
  const init = new TorchInit(opts.seed ?? 0);
  const n = s * s;

  const params: Record<string, tf.Tensor> = {};
  const linear = (name: string, fanIn: number, fanOut: number) => init.linear(params, name, fanIn, fanOut);
  for (let l = 0; l < depth; l++) {
    linear(`fc${l}`, l === 0 ? 4 : width, width);
    params[`r${l}_a`] = tf.tensor1d([...RATIONAL_RELU_INIT.a]);
    params[`r${l}_b`] = tf.tensor1d([...RATIONAL_RELU_INIT.b]);
  }
  linear(`fc${depth}`, width, 1);

  const t = (i: number) => i / (s - 1);
  const coords = new Float64Array(n * n * 4);
  for (let p = 0; p < n; p++) {
    const i = Math.floor(p / s); const j = p % s;
    for (let q = 0; q < n; q++) {
      const k = Math.floor(q / s); const l = q % s;
      const o = (p * n + q) * 4;
      coords[o] = indexing === 'ij' ? t(i) : t(j);
      coords[o + 1] = indexing === 'ij' ? t(j) : t(i);
      coords[o + 2] = t(k);
      coords[o + 3] = t(l);
    }
  }
  const grid = exactTensor(coords, [n * n, 4]) as tf.Tensor2D;

  const kernelOf = (p: Record<string, tf.Tensor>): tf.Tensor2D => {
    let h: tf.Tensor = grid;
    for (let l = 0; l < depth; l++) {
      h = rational(tf.add(tf.matMul(h as tf.Tensor2D, p[`fc${l}_w`] as tf.Tensor2D), p[`fc${l}_b`]), p[`r${l}_a`], p[`r${l}_b`]);
    }
    const g = tf.add(tf.matMul(h as tf.Tensor2D, p[`fc${depth}_w`] as tf.Tensor2D), p[`fc${depth}_b`]);
    return tf.reshape(g, [n, n]);
  };

  const apply = (p: Record<string, tf.Tensor>, x: tf.Tensor): tf.Tensor => {
    if (x.rank !== 2 || x.shape[1] !== n) throw new RangeError(`petscml: greenLearning: expected inputs of shape [batch, ${n}] (s^2, s = ${s}), got [${x.shape.join(', ')}]`);
    return tf.mul(tf.matMul(x as tf.Tensor2D, kernelOf(p)), exactScalar(1 / n));
  };

  let linearCount = 0;
  let rationalCount = 0;
  for (const [name, v] of Object.entries(params)) {
    if (name.startsWith('r')) rationalCount += v.size; else linearCount += v.size;
  }
  return {
    params, apply, resolution: s, width, depth,
    kernel: (p = params) => tf.tidy(() => kernelOf(p)),
    parameterCount: linearCount + rationalCount,
    storedParameterCount: linearCount + 8 * depth,
    dispose() {
      tf.dispose(Object.values(params));
      grid.dispose();
    },
  };
}
