import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { attachFunction, createTfjsFunction, initBackend, Tao, TfjsFunction, Vec } from '../../src';

function data(n: number) {
  const x = new Float32Array(2 * n), y = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    // a fixed, space-filling design in [-1, 1]^2 (golden-ratio lattice)
    const a = 2 * ((i * 0.6180339887) % 1) - 1, b = 2 * ((i + 0.5) / n) - 1;
    x[2 * i] = a; x[2 * i + 1] = b;
    y[2 * i] = Math.sin(Math.PI * a) * Math.cos(b);
    y[2 * i + 1] = Math.exp(-(a * a + b * b)) + 0.5 * a * b;
  }
  return { x: tf.tensor2d(x, [n, 2]), y: tf.tensor2d(y, [n, 2]) };
}

let fn: TfjsFunction;
let x0: Float64Array;

beforeAll(async () => {
  await initBackend({ quiet: true });
  const model = tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [2], units: 12, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }),
    tf.layers.dense({ units: 12, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }),
    tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }) }),
  ] });
  fn = await createTfjsFunction({ model, data: data(128), quiet: true });
  x0 = fn.initialParameters();
});

function train(type: string, hessian: 'none' | 'gauss-newton' | 'exact', maxIt: number) {
  const tao = new Tao({ type });
  const attached = attachFunction(tao, fn, { hessian });
  tao.maxIterations = maxIt;
  tao.setTolerances({ gatol: 1e-12, grtol: 0, gttol: 0 });
  if (hessian !== 'none') tao.ksp!.setTolerances({ maxIts: 20 });
  const x = Vec.fromArray(x0);
  const f0 = fn.objective(x0);
  const r = tao.solve(x);
  // The reported objective is the function's value at the returned parameters, up to float32
  // rounding: tfjs computes f alone and f with its gradient through different graphs.
  expect(Math.abs(fn.objective(x.toArray()) - r.f) / r.f).toBeLessThan(1e-5);
  attached.destroy();
  tao.destroy();
  x.destroy();
  return { f0, r };
}

describe('MLP regression trained by TAO through tfjs', () => {
  it('TR-GN (ntr with Gauss-Newton products) lowers the loss at least 100x', () => {
    const { f0, r } = train('ntr', 'gauss-newton', 40);
    expect(r.counts.hessianMult).toBeGreaterThan(0);
    expect(f0 / r.f).toBeGreaterThan(100);
  });

  it('L-BFGS (lmvm) lowers the loss at least 100x', () => {
    const { f0, r } = train('lmvm', 'none', 300);
    expect(f0 / r.f).toBeGreaterThan(100);
  });

  it('Newton line search with exact Hessian products makes progress too', () => {
    const { f0, r } = train('nls', 'exact', 15);
    expect(r.counts.hessianMult).toBeGreaterThan(0);
    expect(r.f).toBeLessThan(f0);
  });

  it('counts oracle calls as the paper does', () => {
    const before = { ...fn.counts! };
    const g = new Float64Array(fn.size);
    fn.objectiveAndGradient(x0, g);
    const op = fn.hessian!('gauss-newton');
    op.setPoint(x0);
    op.apply(g, new Float64Array(fn.size));
    const after = fn.counts!;
    expect(after.gradients - before.gradients).toBe(1);
    expect(after.hessianProducts - before.hessianProducts).toBe(1);
    expect(after.oracleCalls - before.oracleCalls).toBe(2 + 2); // gradient 2, Gauss-Newton product 2
  });
});
