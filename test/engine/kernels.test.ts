// Every native kernel of the petscml backend against tfjs's cpu backend on the same inputs:
// random shapes, broadcasting, empty tensors, size-1 axes, NaN and Inf. Exact where both do the
// same float32 arithmetic; within a few ulp where the engine computes a function differently
// (OpenBLAS's summation order, the rational tanh, libm against Math.*).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, kernelReport, NATIVE_KERNELS } from '../../src';

let seed = 7;
const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32; };
const SPECIALS = [NaN, Infinity, -Infinity, 0, -0, 1e-30, -1e-30, 80, -80, 1e30, 88.8, -100, -87.5, 88.7];
function data(n: number, opts: { specials?: boolean; positive?: boolean } = {}): Float32Array {
  const a = Float32Array.from({ length: n }, () => (opts.positive ? rnd() * 4 + 1e-3 : rnd() * 8 - 4));
  if (opts.specials) for (let i = 0; i < Math.min(n, SPECIALS.length); i++) a[(i * 7) % n] = opts.positive ? Math.abs(SPECIALS[i]) : SPECIALS[i];
  return a;
}

/** Runs `op` on fresh tensors of `inputs` under a backend; returns the values and shape. */
async function run(backend: string, inputs: { v: Float32Array; shape: number[] }[], op: (...t: tf.Tensor[]) => tf.Tensor) {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const r = op(...inputs.map((i) => tf.tensor(i.v, i.shape, 'float32')));
    return { values: r.dataSync().slice() as Float32Array, shape: r.shape };
  });
}

/** ulp-scaled comparison; NaN must meet NaN and infinities must match exactly. */
function expectClose(got: Float32Array, want: Float32Array, ulps: number, what: string, abs = 0) {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < got.length; i++) {
    const g = got[i], w = want[i];
    if (Number.isNaN(w) || !Number.isFinite(w) || ulps === 0) {
      if (!Object.is(g, w) && !(g === 0 && w === 0)) expect({ what, i, got: g }).toEqual({ what, i, got: w });
      continue;
    }
    const tol = Math.max(ulps * 1.2e-7 * Math.max(Math.abs(w), 1e-6), abs);
    if (!(Math.abs(g - w) <= tol)) expect({ what, i, got: g, tol }).toEqual({ what, i, got: w, tol });
  }
}

async function compare(name: string, inputs: { v: Float32Array; shape: number[] }[], op: (...t: tf.Tensor[]) => tf.Tensor, ulps: number, abs = 0) {
  const want = await run('cpu', inputs, op);
  kernelReport({ reset: true });
  const got = await run('petscml', inputs, op);
  expect(got.shape, name).toEqual(want.shape);
  expectClose(got.values, want.values, ulps, `${name} [${inputs.map((i) => `[${i.shape}]`).join(' ')}]`, abs);
  return kernelReport();
}

beforeAll(async () => {
  await initBackend({ backend: 'petscml', quiet: true });
});

const SHAPES: number[][] = [[], [1], [5], [3, 4], [2, 1, 6], [0], [4, 0], [2, 3, 4, 5], [1, 1, 1]];

describe('unary kernels', () => {
  const ops: [string, (x: tf.Tensor) => tf.Tensor, number, boolean?, number?][] = [
    ['Neg', tf.neg, 0], ['Abs', tf.abs, 0], ['Square', tf.square, 0], ['Relu', tf.relu, 0],
    ['Exp', tf.exp, 2], ['Log', tf.log, 2, true], ['Tanh', tf.tanh, 6], ['Sigmoid', tf.sigmoid, 4],
    ['Sqrt', tf.sqrt, 1, true], ['Rsqrt', tf.rsqrt, 2, true], ['Sin', tf.sin, 2], ['Cos', tf.cos, 2], ['Elu', tf.elu, 4],
    ['Softplus', tf.softplus, 4], ['Reciprocal', tf.reciprocal, 1], ['Sign', tf.sign, 0], ['Log1p', tf.log1p, 2, true],
    ['Expm1', tf.expm1, 2],
    // libm's erf against tfjs's Abramowitz-Stegun 7.1.26 (absolute error up to 1.5e-7, so
    // relative error unbounded near 0): the engine's is the accurate one.
    ['Erf', tf.erf, 2, false, 2e-7],
  ];
  for (const [name, op, ulps, positive, abs] of ops) {
    it(`${name} on every shape, with NaN, Inf, zeros and extremes`, async () => {
      for (const shape of SHAPES) {
        const n = shape.reduce((a, b) => a * b, 1);
        const report = await compare(name, [{ v: data(n, { specials: true, positive }), shape }], op, ulps, abs);
        if (n > 0) expect(report[name]?.native, `${name} ran natively`).toBeGreaterThan(0);
      }
    });
  }
});

describe('binary kernels with broadcasting', () => {
  const pairs: [number[], number[]][] = [
    [[3, 4], [3, 4]], [[3, 4], [4]], [[3, 4], [3, 1]], [[3, 4], []], [[], [2, 5]], [[2, 1, 4], [3, 1]],
    [[1], [6]], [[0, 3], [3]], [[4, 1, 2, 3], [1, 5, 1, 3]], [[7], [1]],
  ];
  const ops: [string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor, number][] = [
    ['Add', tf.add, 0], ['Sub', tf.sub, 0], ['Multiply', tf.mul, 0], ['RealDiv', tf.div, 0],
    ['Maximum', tf.maximum, 0], ['Minimum', tf.minimum, 0], ['SquaredDifference', tf.squaredDifference, 0], ['Pow', tf.pow, 4],
  ];
  for (const [name, op, ulps] of ops) {
    it(`${name} on equal, row, column, scalar and mutual broadcasts, with NaN and Inf`, async () => {
      for (const [sa, sb] of pairs) {
        const na = sa.reduce((a, b) => a * b, 1), nb = sb.reduce((a, b) => a * b, 1);
        const pos = name === 'Pow';
        const report = await compare(name, [{ v: data(na, { specials: true, positive: pos }), shape: sa }, { v: data(nb, { specials: !pos }), shape: sb }], op, ulps);
        if (na * nb > 0) expect(report[name]?.native, `${name} ran natively`).toBeGreaterThan(0);
      }
    });
  }
  it('AddN of equal shapes', async () => {
    const inputs = [0, 1, 2].map(() => ({ v: data(12, { specials: true }), shape: [3, 4] }));
    const r = await compare('AddN', inputs, (...t) => tf.addN(t), 0);
    expect(r.AddN?.native).toBe(1);
  });
});

describe('reductions', () => {
  const cases: [number[], number | number[] | undefined, boolean][] = [
    [[3, 4], 1, false], [[3, 4], 0, true], [[2, 3, 4], [1, 2], false], [[2, 3, 4], [0, 1], true], [[5], undefined, false],
    [[2, 3, 4], 1, true], [[4, 0], 1, false], [[2, 3, 4], [0, 2], false], [[1, 1], 0, false],
  ];
  const ops: [string, (x: tf.Tensor, axis: number | number[] | undefined, keep: boolean) => tf.Tensor, number][] = [
    ['Sum', (x, a, k) => tf.sum(x, a, k), 0], ['Max', (x, a, k) => tf.max(x, a, k), 0], ['Min', (x, a, k) => tf.min(x, a, k), 0],
    ['Mean', (x, a, k) => tf.mean(x, a, k), 2],
  ];
  for (const [name, op, ulps] of ops) {
    it(`${name} over contiguous and split axes, keepDims, empty axes, NaN`, async () => {
      for (const [shape, axis, keep] of cases) {
        const n = shape.reduce((a, b) => a * b, 1);
        if (n === 0 && name !== 'Sum') continue; // tfjs refuses max/min/mean of an empty tensor
        await compare(name, [{ v: data(n, { specials: true }), shape }], (x) => op(x, axis, keep), ulps);
      }
    });
  }
  it('a reduction over non-adjacent axes falls back to the cpu backend and is counted', async () => {
    const r = await compare('Sum', [{ v: data(24), shape: [2, 3, 4] }], (x) => tf.sum(x, [0, 2]), 0);
    expect(r.Sum).toMatchObject({ fallback: 1 });
  });
});

describe('matrix products', () => {
  const cases: [number[], number[], boolean, boolean][] = [
    [[3, 5], [5, 4], false, false], [[5, 3], [5, 4], true, false], [[3, 5], [4, 5], false, true], [[5, 3], [4, 5], true, true],
    [[2, 3, 5], [2, 5, 4], false, false], [[2, 3, 5], [5, 4], false, false], [[5, 4], [3, 4, 2], false, false],
    [[1, 7], [7, 1], false, false], [[0, 5], [5, 3], false, false], [[3, 0], [0, 4], false, false], [[64, 256], [256, 64], false, false],
  ];
  it('BatchMatMul: plain, transposed operands, batches, a broadcast single matrix, empty and size-1 dimensions', async () => {
    for (const [sa, sb, ta, tb] of cases) {
      const na = sa.reduce((a, b) => a * b, 1), nb = sb.reduce((a, b) => a * b, 1);
      const k = ta ? sa[sa.length - 2] : sa[sa.length - 1];
      // Summation order differs (OpenBLAS blocks, tfjs loops): both are within k ulp of sum |a||b| <= 16 k.
      const r = await compare('BatchMatMul', [{ v: data(na), shape: sa }, { v: data(nb), shape: sb }], (a, b) => tf.matMul(a, b, ta, tb), 0.5, k * k * 16 * 1.2e-7);
      expect(r.BatchMatMul?.native, `[${sa}] x [${sb}]`).toBe(1);
    }
  });
  it('NaN and Inf propagate through products', async () => {
    const a = data(12), b = data(8);
    a[5] = NaN;
    b[3] = Infinity;
    await compare('BatchMatMul', [{ v: a, shape: [3, 4] }, { v: b, shape: [4, 2] }], (x, y) => tf.matMul(x, y), 64);
  });
  it('_FusedMatMul with bias and each native activation; prelu falls back', async () => {
    for (const activation of ['linear', 'relu', 'elu', 'sigmoid'] as const) {
      const r = await compare('_FusedMatMul', [{ v: data(15), shape: [3, 5] }, { v: data(20), shape: [5, 4] }, { v: data(4), shape: [4] }],
        (a, b, bias) => tf.fused.matMul({ a, b, bias, activation }), 256);
      expect(r._FusedMatMul?.native, activation).toBe(1);
    }
    const r = await compare('_FusedMatMul', [{ v: data(15), shape: [3, 5] }, { v: data(20), shape: [5, 4] }, { v: data(4), shape: [4] }],
      (a, b, w) => tf.fused.matMul({ a, b, activation: 'prelu', preluActivationWeights: w }), 256);
    expect(r._FusedMatMul?.fallback).toBe(1);
  });
  it('Transpose of every permutation of a rank-3 tensor, and 2-D ones of odd sizes', async () => {
    for (const perm of [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]]) {
      const r = await compare('Transpose', [{ v: data(60, { specials: true }), shape: [3, 4, 5] }], (x) => tf.transpose(x, perm), 0);
      if (perm.join() !== '0,1,2') expect(r.Transpose?.native).toBe(1);
    }
    for (const shape of [[33, 65], [1, 9], [70, 1], [0, 3]]) await compare('Transpose', [{ v: data(shape[0] * shape[1]), shape }], (x) => tf.transpose(x), 0);
  });
});

describe('copies', () => {
  // (tfjs refuses to slice or pad a scalar before any kernel runs)
  const SHAPES5: number[][] = [[2, 3, 4, 5, 2], [1, 6, 1, 7], [4, 5], [9], [1], [3, 0, 2]];
  it('Slice: boxes of every shape, contiguous or not, with begin offsets and -1 sizes', async () => {
    const r = (k: number) => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % k;
    let nativeCalls = 0;
    for (const shape of SHAPES5) {
      const n = shape.reduce((a, b) => a * b, 1);
      for (let trial = 0; trial < 6; trial++) {
        const begin = shape.map((d) => (d ? r(d) : 0));
        const sz = shape.map((d, i) => (trial === 0 ? -1 : d ? 1 + r(d - begin[i]) : 0));
        const rep = await compare('Slice', [{ v: data(n, { specials: true }), shape }], (x) => tf.slice(x, begin, sz), 0);
        nativeCalls += rep.Slice?.native ?? 0;
      }
    }
    expect(nativeCalls).toBeGreaterThan(20);
  });
  it('PadV2: constant padding on any axes, zero or not', async () => {
    for (const shape of SHAPES5) {
      const n = shape.reduce((a, b) => a * b, 1);
      const pads = shape.map((_, i) => [i % 2, (i * 2) % 3] as [number, number]);
      const rep = await compare('PadV2', [{ v: data(n, { specials: true }), shape }], (x) => tf.pad(x, pads, shape.length % 2 ? -1.5 : 0), 0);
      expect(rep.PadV2?.native).toBe(1);
    }
  });
  it('Tile: repeats on every axis, including the FNO-3D input and grid patterns', async () => {
    const cases: [number[], number[]][] = [[[2, 3, 3, 1, 4], [1, 1, 1, 5, 1]], [[1, 3, 3, 2, 3], [4, 1, 1, 1, 1]], [[2, 3], [3, 2]], [[5], [1]], [[2, 0], [2, 3]], [[1, 2, 1], [2, 1, 3]]];
    for (const [shape, reps] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const rep = await compare('Tile', [{ v: data(n, { specials: true }), shape }], (x) => tf.tile(x, reps), 0);
      expect(rep.Tile?.native).toBe(1);
    }
  });
});

describe('constants', () => {
  it('ZerosLike, OnesLike and Fill, small and pooled sizes', async () => {
    for (const shape of [[3], [40, 64], [0, 2]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const z = await compare('ZerosLike', [{ v: data(n), shape }], (x) => tf.zerosLike(x), 0);
      const o = await compare('OnesLike', [{ v: data(n), shape }], (x) => tf.onesLike(x), 0);
      const f = await compare('Fill', [{ v: data(n), shape }], () => tf.fill(shape, -2.5), 0);
      if (n) expect([z.ZerosLike?.native, o.OnesLike?.native, f.Fill?.native]).toEqual([1, 1, 1]);
    }
  });
});

describe('the fallback is visible', () => {
  it('kernels without a native implementation run the cpu backend\'s and are counted as fallbacks', async () => {
    const r = await compare('Cumsum', [{ v: data(10), shape: [10] }], (x) => tf.cumsum(x), 0);
    expect(r.Cumsum).toMatchObject({ native: 0, fallback: 1 });
    expect(NATIVE_KERNELS).toContain('BatchMatMul');
    expect(NATIVE_KERNELS).not.toContain('Cumsum');
  });
  it('int32 inputs of a native kernel fall back (same result as the cpu backend)', async () => {
    await tf.setBackend('petscml');
    kernelReport({ reset: true });
    const s = tf.tidy(() => tf.add(tf.tensor([1, 2, 3], [3], 'int32'), tf.tensor([4, 5, 6], [3], 'int32')).dataSync());
    expect(Array.from(s)).toEqual([5, 7, 9]);
    expect(kernelReport().Add).toMatchObject({ native: 0, fallback: 1 });
  });
});

describe('reused output arrays are never visible', () => {
  it('an array from dataSync() stays as it was after its tensor is disposed and others are computed', async () => {
    await tf.setBackend('petscml');
    const x = tf.tensor(data(4096), [64, 64]);
    const y = tf.tanh(x);
    const kept = y.dataSync();
    const copy = kept.slice();
    y.dispose();
    for (let i = 0; i < 5; i++) tf.tidy(() => tf.exp(tf.neg(x)).dataSync());
    expect(kept).toEqual(copy);
    x.dispose();
  });
  it('a slice of a native output (a subarray of its buffer) keeps its values after the output is disposed', async () => {
    const xv = data(4096);
    const want = (await run('cpu', [{ v: xv, shape: [64, 64] }], (t) => tf.slice(tf.sigmoid(t), [0, 0], [32, 64]))).values;
    await tf.setBackend('petscml');
    const x = tf.tensor(xv, [64, 64]);
    const y = tf.sigmoid(x);
    const s = tf.slice(y, [0, 0], [32, 64]); // the cpu backend's Slice: a subarray of y's buffer
    y.dispose();
    for (let i = 0; i < 5; i++) tf.tidy(() => tf.tanh(tf.mul(x, 2)));
    expectClose(s.dataSync() as Float32Array, want, 4, 'slice after its source was disposed');
    s.dispose();
    x.dispose();
  });
});
