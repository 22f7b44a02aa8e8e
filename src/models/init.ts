/** What the model builders share: option checks and PyTorch's default initialisation. */
import * as tf from '@tensorflow/tfjs';
import { Random } from '../problems/darcy1d';

export function integerOption(where: string, name: string, v: unknown, min = 1): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new RangeError(`petscml: ${where}: ${name} must be an integer >= ${min}, got ${typeof v === 'number' ? v : typeof v}`);
  }
  return v;
}

/** Seeded draws in a fixed order, so that a seed names one set of initial weights. */
export class TorchInit {
  private readonly rng: Random;
  constructor(seed: number) {
    this.rng = new Random(seed);
  }
  /** U[lo, hi) of the given shape. */
  uniform(shape: number[], lo: number, hi: number): tf.Tensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    for (let i = 0; i < n; i++) v[i] = lo + (hi - lo) * this.rng.uniform();
    return tf.tensor(v, shape);
  }
  /** nn.Linear's default: weight [fanIn, fanOut] and bias, both U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
  linear(params: Record<string, tf.Tensor>, name: string, fanIn: number, fanOut: number): void {
    const b = 1 / Math.sqrt(fanIn);
    params[`${name}_w`] = this.uniform([fanIn, fanOut], -b, b);
    params[`${name}_b`] = this.uniform([fanOut], -b, b);
  }
}
