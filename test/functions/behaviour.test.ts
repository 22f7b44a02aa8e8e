import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import {
  createTfjsFunction, initBackend, ParameterLayout, meanSquaredError, meanSquaredRelativeError,
  meanRelativeError, UnsupportedSecondDerivativeError, type FunctionModel,
} from '../../src/functions';
import { rng } from './derivatives.shared';

function mlp(inp: number, hid: number, out: number, seed: number): FunctionModel {
  const r = rng(seed);
  const t = (shape: number[]) => tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => 0.5 * r()), shape);
  return {
    params: { w1: t([inp, hid]), b1: t([hid]), w2: t([hid, out]), b2: t([out]) },
    apply: (p, x) => tf.add(tf.matMul(tf.tanh(tf.add(tf.matMul(x, p.w1), p.b1)), p.w2), p.b2),
  };
}

function data(n: number, inp: number, out: number, seed: number) {
  const r = rng(seed);
  return {
    x: { values: Float32Array.from({ length: n * inp }, r), shape: [n, inp] },
    y: { values: Float32Array.from({ length: n * out }, r), shape: [n, out] },
  };
}

beforeAll(async () => { await initBackend({ backend: 'wasm', quiet: true }); });

describe('parameter flattening', () => {
  it('lays parameters out in order, each row-major, and folds back exactly', () => {
    const layout = new ParameterLayout([{ name: 'w', shape: [2, 3] }, { name: 'b', shape: [3] }]);
    expect(layout.size).toBe(9);
    expect(layout.entries.map(e => e.offset)).toEqual([0, 6]);
    const x = Float64Array.from({ length: 9 }, (_, i) => i + 0.5);
    const [w, b] = layout.fold(x);
    expect(w.arraySync()).toEqual([[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]]);
    expect(b.arraySync()).toEqual([6.5, 7.5, 8.5]);
    expect(Array.from(layout.flatten([w, b]))).toEqual(Array.from(x));
    tf.dispose([w, b]);
  });

  it('a plain-function model follows the params record key order; a LayersModel its trainableWeights', async () => {
    const fn = await createTfjsFunction({ quiet: true, model: mlp(3, 4, 2, 1), data: data(5, 3, 2, 2) });
    expect(fn.layout.entries.map(e => [e.name, e.offset])).toEqual([['w1', 0], ['b1', 12], ['w2', 16], ['b2', 24]]);
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 4, inputShape: [3], activation: 'tanh' }), tf.layers.dense({ units: 2 })] });
    const fl = await createTfjsFunction({ quiet: true, model, data: data(5, 3, 2, 2) });
    const w = model.trainableWeights;
    expect(fl.layout.entries.map(e => e.name)).toEqual(w.map(v => v.name));
    const x0 = fl.initialParameters();
    expect(Array.from(x0.subarray(0, 12))).toEqual(Array.from(w[0].read().dataSync()));
    fn.dispose(); fl.dispose(); model.dispose();
  });

  it('rejects a vector of the wrong length', async () => {
    const fn = await createTfjsFunction({ quiet: true, model: mlp(3, 4, 2, 1), data: data(5, 3, 2, 2) });
    expect(() => fn.objective(new Float64Array(3))).toThrow(/length 3, expected 26/);
    fn.dispose();
  });
});

describe('losses', () => {
  it('mse, msre (eq. 6) and the mean relative error metric (eq. 7) by their definitions', () => {
    const p = tf.tensor2d([[1, 2], [3, 5]]);
    const t = tf.tensor2d([[1, 1], [4, 4]]);
    // squared errors per sample: 1 and 2; ||t_i||^2: 2 and 32.
    expect(meanSquaredError(p, t).dataSync()[0]).toBeCloseTo(3 / 4, 6);
    expect(meanSquaredRelativeError(p, t).dataSync()[0]).toBeCloseTo((1 / 2 + 2 / 32) / 2, 6);
    expect(meanRelativeError(p, t).dataSync()[0]).toBeCloseTo((Math.sqrt(1 / 2) + Math.sqrt(2 / 32)) / 2, 6);
    tf.dispose([p, t]);
  });

  it('a user loss is used as given', async () => {
    const fn = await createTfjsFunction({
      quiet: true, model: mlp(3, 4, 2, 1), data: data(5, 3, 2, 2),
      loss: (p, t) => tf.sum(tf.abs(tf.sub(p, t))) as tf.Scalar,
    });
    const x = fn.initialParameters();
    const pred = fn.predict(x, tf.tensor(data(5, 3, 2, 2).x.values, [5, 3]));
    const expected = tf.sum(tf.abs(tf.sub(pred, tf.tensor(data(5, 3, 2, 2).y.values, [5, 2])))).dataSync()[0];
    expect(fn.objective(x)).toBeCloseTo(expected, 4);
    fn.dispose();
  });
});

describe('mini-batches and oracle counts', () => {
  it('update moves to the next batch and returns f and g consistent with it', async () => {
    const d = data(10, 3, 2, 3);
    const fn = await createTfjsFunction({ quiet: true, model: mlp(3, 4, 2, 1), data: d, batchSize: 4 });
    expect(fn.batchCount).toBe(3);
    const x = fn.initialParameters();
    const g = new Float64Array(fn.size);
    fn.objectiveAndGradient(x, g);
    expect(fn.update(0, x, g)).toBeUndefined(); // the first iteration keeps the initial batch
    const g1 = new Float64Array(fn.size);
    const f1 = fn.update(1, x, g1);
    expect(fn.batchIndex).toBe(1);
    const g1b = new Float64Array(fn.size);
    expect(fn.objectiveAndGradient(x, g1b)).toBe(f1);
    expect(Array.from(g1)).toEqual(Array.from(g1b));
    // The batch differs from the first: f and g moved.
    expect(f1).not.toBe(fn.objective(x) === f1 ? NaN : f1 + 1);
    fn.selectBatch(0);
    expect(fn.objective(x)).not.toBe(f1);
    // Shares: batches of 4, 4 and 2 out of 10.
    const c = fn.counts;
    // calls so far: grad(b0) 2*0.4, grad(b1) 2*0.4 (update), grad(b1) 2*0.4, obj(b1) 0.4, obj(b0) 0.4
    expect(c.gradients).toBeCloseTo(1.2, 12);
    expect(c.objectives).toBeCloseTo(0.8, 12);
    expect(c.oracleCalls).toBeCloseTo(2 * 1.2 + 0.8, 12);
    expect(c.epochs).toBeCloseTo(0.8, 12);
    fn.selectBatch(2);
    const H = fn.hessian('exact'); H.setPoint(x); H.apply(x, new Float64Array(fn.size));
    const G = fn.hessian('gauss-newton'); G.setPoint(x); G.apply(x, new Float64Array(fn.size));
    expect(c.hessianProducts).toBeCloseTo(0.4, 12);
    expect(c.oracleCalls).toBeCloseTo(2 * 1.2 + 0.8 + 4 * 0.2 + 2 * 0.2, 12);
    fn.dispose();
  });

  it('iterables and async iterables of batches are read into batches', async () => {
    const batches = [data(3, 3, 2, 4), data(2, 3, 2, 5)];
    const a = await createTfjsFunction({ quiet: true, model: mlp(3, 4, 2, 1), data: batches });
    async function* gen() { for (const b of batches) yield b; }
    const b = await createTfjsFunction({ quiet: true, model: mlp(3, 4, 2, 1), data: gen() });
    expect(a.batchCount).toBe(2); expect(b.batchCount).toBe(2);
    expect(a.datasetSize).toBe(5);
    const x = a.initialParameters();
    expect(b.objective(x)).toBe(a.objective(x));
    a.dispose(); b.dispose();
  });
});

describe('no tensor leaks', () => {
  it('tensor count is unchanged after 1,000 evaluations of each kind', async () => {
    const fn = await createTfjsFunction({ quiet: true, model: mlp(3, 8, 2, 1), data: data(16, 3, 2, 6), batchSize: 8 });
    const x = fn.initialParameters();
    const g = new Float64Array(fn.size);
    const y = new Float64Array(fn.size);
    const H = fn.hessian('exact'); const G = fn.hessian('gauss-newton');
    // Warm up: the first calls create the cached point and model output.
    fn.objectiveAndGradient(x, g); H.setPoint(x); H.apply(g, y); G.setPoint(x); G.apply(g, y);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) {
      x[0] += 1e-3; // a new point every time: folding and caching are exercised too
      fn.objective(x);
      fn.objectiveAndGradient(x, g);
      H.setPoint(x); H.apply(g, y);
      G.setPoint(x); G.apply(g, y);
      if (i % 100 === 0) fn.update(i, x, g);
    }
    expect(tf.memory().numTensors).toBe(before);
    fn.dispose();
  });
});

describe('ops without a correct second derivative', () => {
  const cases: [string, (x: tf.Tensor, w: tf.Tensor) => tf.Tensor, RegExp][] = [
    ['max', (x, w) => tf.max(tf.matMul(x, w), 1, true), /'Max'/],
    ['logSoftmax (customGrad)', (x, w) => tf.logSoftmax(tf.matMul(x, w)), /logSoftmax/],
    ['conv1d filter', (x, w) => tf.reshape(tf.conv1d(tf.reshape(tf.matMul(x, w), [4, 2, 1]) as tf.Tensor3D, tf.reshape(tf.slice(tf.reshape(w, [6]), 0, 2), [2, 1, 1]) as tf.Tensor3D, 1, 'same'), [4, 2]), /Conv2D/],
  ];
  for (const [name, apply, op] of cases) {
    it(`${name}: exact Hv throws naming the op and suggesting Gauss-Newton; nothing leaks`, async () => {
      // wasm has no Conv2DBackpropFilter kernel at all (not even first order): use cpu there.
      await initBackend({ backend: name.startsWith('conv') ? 'cpu' : 'wasm', quiet: true });
      const fn = await createTfjsFunction({
        quiet: true,
        model: { params: { w: tf.tensor2d([[0.3, -0.2], [0.1, 0.4], [0.5, 0.2]]) }, apply: (p, x) => apply(x, p.w) },
        data: { x: { values: Float32Array.from({ length: 12 }, rng(1)), shape: [4, 3] },
          y: { values: new Float32Array(name === 'max' ? 4 : 8), shape: name === 'max' ? [4, 1] : [4, 2] } },
      });
      const x = fn.initialParameters();
      const g = new Float64Array(fn.size);
      fn.objectiveAndGradient(x, g); // first order still works
      expect(g.some(v => v !== 0)).toBe(true);
      const H = fn.hessian('exact'); H.setPoint(x);
      const before = tf.memory().numTensors;
      let err: unknown;
      try { H.apply(x, new Float64Array(fn.size)); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(UnsupportedSecondDerivativeError);
      expect((err as Error).message).toMatch(op);
      expect((err as Error).message).toMatch(/Gauss-Newton/);
      expect(tf.memory().numTensors).toBe(before);
      fn.dispose();
    });
  }
});

describe('backend choice', () => {
  it('an unknown name is refused; a missing tfjs-node is reported, not crashed on', async () => {
    await expect(initBackend({ backend: 'nope' as never })).rejects.toThrow(/unknown tfjs backend 'nope'/);
    let nodeInstalled = true;
    try { require.resolve('@tensorflow/tfjs-node'); } catch { nodeInstalled = false; }
    if (!nodeInstalled) {
      await expect(initBackend({ backend: 'tensorflow', quiet: true })).rejects.toThrow(/@tensorflow\/tfjs-node not loadable/);
    }
    // Whatever happened, the process still has a working backend to fall back to.
    expect((await initBackend({ backend: 'cpu', quiet: true })).name).toBe('cpu');
    expect((await initBackend({ backend: 'wasm', quiet: true })).name).toBe('wasm');
  });

});
