// The petscml-float64 backend (issue 14): float32-dtype tensors held and computed in double.
// Each native kernel is compared with the same computation in JavaScript doubles (to a few ulp)
// and shown to differ from its float32 result; a kernel without a float64 implementation throws
// naming it; the function layer passes parameters and data through without float32.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createTfjsFunction, exactScalar, exactTensor, initBackend } from '../../src/functions';
import { kernelReport } from '../../src/engine';

let seed = 7;
const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32 * 2 - 1; };
const rand = (n: number) => Float64Array.from({ length: n }, rnd);
const f64 = (t: tf.Tensor) => { const v = t.dataSync(); expect(v).toBeInstanceOf(Float64Array); return v as unknown as Float64Array; };
/** max |a - b| / max(|b|, tiny): a few ulp of double for a correct kernel, ~1e-8 for a float32 one. */
const rel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let e = 0;
  for (let i = 0; i < b.length; i++) e = Math.max(e, Math.abs(a[i] - b[i]) / Math.max(Math.abs(b[i]), 1e-300));
  return e;
};
/** max |a - b| / max |b|: for sums of products, where one entry may cancel to near zero. */
const relNorm = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let e = 0, m = 0;
  for (let i = 0; i < b.length; i++) { e = Math.max(e, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
  return e / m;
};
const EXACT = 1e-14;

beforeAll(async () => { await initBackend({ backend: 'petscml-float64', quiet: true }); });
afterAll(async () => { await initBackend({ backend: 'petscml', quiet: true }); });

describe('petscml-float64 kernels compute in double', () => {
  it('exactTensor keeps doubles, and dataSync returns them (tf.tensor would round to float32)', () => {
    const t = exactTensor([0.1, 1 + 2 ** -40], [2]);
    expect(Array.from(f64(t))).toEqual([0.1, 1 + 2 ** -40]);
    // Numbers tfjs converts itself (tf.tensor, op constants) arrive rounded to float32, then widened exactly.
    expect(Array.from(f64(tf.tensor([0.1]))) [0]).toBe(Math.fround(0.1));
    expect(f64(exactScalar(0.1))[0]).toBe(0.1);
  });

  it('matrix products (plain, transposed, batched, broadcast batch) equal double loops', () => {
    const mm = (a: Float64Array, b: Float64Array, m: number, k: number, n: number, ta: boolean, tb: boolean) => {
      const c = new Float64Array(m * n);
      for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
        c[i * n + j] = s;
      }
      return c;
    };
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const m = 7, k = 33, n = 5;
      const a = rand(m * k), b = rand(k * n);
      const got = f64(tf.matMul(exactTensor(a, ta ? [k, m] : [m, k]), exactTensor(b, tb ? [n, k] : [k, n]), ta, tb));
      expect(relNorm(got, mm(a, b, m, k, n, ta, tb))).toBeLessThan(EXACT);
    }
    const a = rand(3 * 4 * 6), b = rand(6 * 2);
    const got = f64(tf.matMul(exactTensor(a, [3, 4, 6]), exactTensor(b, [6, 2])));
    const want = new Float64Array(3 * 4 * 2);
    for (let q = 0; q < 3; q++) want.set(mm(a.subarray(q * 24, q * 24 + 24), b, 4, 6, 2, false, false), q * 8);
    expect(relNorm(got, want)).toBeLessThan(EXACT);
  });

  it('unary functions equal Math.* in double (and not the float32 values)', () => {
    const x = rand(257).map((v) => 3 * v);
    const cases: [string, (t: tf.Tensor) => tf.Tensor, (v: number) => number][] = [
      ['tanh', tf.tanh, Math.tanh], ['exp', tf.exp, Math.exp], ['sigmoid', tf.sigmoid, (v) => 1 / (1 + Math.exp(-v))],
      ['sin', tf.sin, Math.sin], ['cos', tf.cos, Math.cos], ['square', tf.square, (v) => v * v], ['neg', tf.neg, (v) => -v],
      ['abs', tf.abs, Math.abs], ['expm1', tf.expm1, Math.expm1], ['elu', tf.elu, (v) => (v >= 0 ? v : Math.expm1(v))],
      ['relu', tf.relu, (v) => Math.max(v, 0)], ['softplus', tf.softplus, (v) => Math.log1p(Math.exp(v))],
    ];
    for (const [name, op, ref] of cases) {
      const got = f64(op(exactTensor(x, [257])));
      expect({ name, err: rel(got, x.map(ref)) < EXACT }).toEqual({ name, err: true });
    }
    // log of positive values, and the float32 result is ~1e-8 away: the test can tell the two apart.
    const p = x.map((v) => Math.abs(v) + 0.5);
    const got = f64(tf.log(exactTensor(p, [257])));
    expect(rel(got, p.map(Math.log))).toBeLessThan(EXACT);
    expect(rel(Float64Array.from(p.map((v) => Math.fround(Math.log(Math.fround(v))))), p.map(Math.log))).toBeGreaterThan(1e-9);
  });

  it('tanh in double (its own vectorized form) is within a few ulp of Math.tanh on both branches and at the edges', () => {
    const pts = [0, -0, 0.625, -0.625, 0.6249999999999999, 1e-300, -5e-324, 19.06, 20, 21, -25, 700, Infinity, -Infinity, NaN];
    for (let i = 0; i < 4000; i++) pts.push(rnd() * [1e-3, 0.7, 3, 25][i % 4]);
    const got = f64(tf.tanh(exactTensor(pts, [pts.length])));
    let worst = 0;
    pts.forEach((v, i) => {
      const want = Math.tanh(v);
      if (Number.isNaN(want) || want === 0) { expect(Object.is(got[i], want), `tanh(${v})`).toBe(true); return; }
      worst = Math.max(worst, Math.abs(got[i] - want) / (Math.max(Math.abs(want), 2 ** -1022) * 2 ** -52));
    });
    expect(worst).toBeLessThan(4);
  });

  it('broadcasting binary operations, reductions and transposes equal double loops', () => {
    const a = rand(4 * 6), b = rand(6), c = rand(4 * 6).map((v) => v + 2);
    const A = exactTensor(a, [4, 6]), B = exactTensor(b, [6]), C = exactTensor(c, [4, 6]);
    const at = (i: number) => b[i % 6];
    expect(rel(f64(tf.add(A, B)), a.map((v, i) => v + at(i)))).toBeLessThan(EXACT);
    expect(rel(f64(tf.sub(A, B)), a.map((v, i) => v - at(i)))).toBeLessThan(EXACT);
    expect(rel(f64(tf.mul(A, B)), a.map((v, i) => v * at(i)))).toBeLessThan(EXACT);
    expect(rel(f64(tf.div(A, C)), a.map((v, i) => v / c[i]))).toBeLessThan(EXACT);
    expect(rel(f64(tf.pow(C, B)), c.map((v, i) => v ** at(i)))).toBeLessThan(EXACT);
    expect(rel(f64(tf.squaredDifference(A, B)), a.map((v, i) => (v - at(i)) ** 2))).toBeLessThan(EXACT);
    expect(rel(f64(tf.maximum(A, B)), a.map((v, i) => Math.max(v, at(i))))).toBeLessThan(EXACT);
    const rows = [0, 1, 2, 3].map((r) => a.subarray(r * 6, r * 6 + 6));
    expect(relNorm(f64(tf.sum(A, 1)), rows.map((r) => r.reduce((s, v) => s + v, 0)))).toBeLessThan(EXACT);
    expect(relNorm(f64(tf.mean(A)), [a.reduce((s, v) => s + v, 0) / 24])).toBeLessThan(EXACT);
    expect(rel(f64(tf.max(A, 0)), [0, 1, 2, 3, 4, 5].map((j) => Math.max(...rows.map((r) => r[j]))))).toBeLessThan(EXACT);
    expect(Array.from(f64(tf.transpose(A)))).toEqual([0, 1, 2, 3, 4, 5].flatMap((j) => rows.map((r) => r[j])));
  });

  it('copies (slice, pad, tile, concat, stack, unstack) and softmax and step keep every bit', () => {
    const a = rand(2 * 3), A = exactTensor(a, [2, 3]);
    expect(Array.from(f64(tf.slice(A, [0, 1], [2, 2])))).toEqual([a[1], a[2], a[4], a[5]]);
    expect(Array.from(f64(tf.pad(A, [[0, 0], [1, 0]])))).toEqual([0, a[0], a[1], a[2], 0, a[3], a[4], a[5]]);
    expect(Array.from(f64(tf.tile(A, [1, 2])))).toEqual([a[0], a[1], a[2], a[0], a[1], a[2], a[3], a[4], a[5], a[3], a[4], a[5]]);
    expect(Array.from(f64(tf.concat([A, A], 0)))).toEqual([...a, ...a]);
    expect(Array.from(f64(tf.stack([A, A], 1)))).toEqual([a[0], a[1], a[2], a[0], a[1], a[2], a[3], a[4], a[5], a[3], a[4], a[5]]);
    expect(tf.unstack(A).map((t) => Array.from(f64(t)))).toEqual([[a[0], a[1], a[2]], [a[3], a[4], a[5]]]);
    const e = a.map(Math.exp);
    const sm = [0, 1].flatMap((r) => { const s = e[3 * r] + e[3 * r + 1] + e[3 * r + 2]; return [0, 1, 2].map((j) => e[3 * r + j] / s); });
    expect(rel(f64(tf.softmax(A)), sm)).toBeLessThan(EXACT);
    expect(Array.from(f64(tf.step(A)))).toEqual(Array.from(a, (v) => (v > 0 ? 1 : 0)));
  });

  it('comparisons read doubles (1 + 1e-12 > 1), and masks, where, the piecewise-linear activations and reverse keep every bit', () => {
    const d = 1e-12;
    const A = exactTensor([1 + d, 1, 1 - d, NaN], [4]), one = exactTensor([1, 1, 1, 1], [4]);
    // In float32 all three would be 1, so none greater and all equal.
    expect(Array.from(tf.greater(A, one).dataSync())).toEqual([1, 0, 0, 0]);
    expect(Array.from(tf.lessEqual(A, one).dataSync())).toEqual([0, 1, 1, 0]);
    expect(Array.from(tf.notEqual(A, one).dataSync())).toEqual([1, 0, 1, 1]);
    expect(Array.from(tf.isNaN(A).dataSync())).toEqual([0, 0, 0, 1]);
    const a = rand(12), X = exactTensor(a, [3, 4]);
    const mask = tf.greater(X, exactScalar(0));
    expect(Array.from(f64(tf.cast(mask, 'float32')))).toEqual(Array.from(a, (v) => (v > 0 ? 1 : 0)));
    expect(Array.from(mask.dataSync())).toEqual(Array.from(a, (v) => (v > 0 ? 1 : 0))); // the bool itself unchanged
    const neg = tf.neg(X);
    expect(Array.from(f64(tf.where(mask, X, neg)))).toEqual(Array.from(a, Math.abs));
    const rows = exactTensor([1, 0, 1], [3, 1]).greater(exactScalar(0.5)); // broadcast to X's shape by tf.where
    expect(Array.from(f64(tf.where(rows, X, neg)))).toEqual(Array.from(a, (v, i) => ((i >> 2) === 1 ? -v : v)));
    expect(Array.from(f64(tf.leakyRelu(X, 0.1)))).toEqual(Array.from(a, (v) => (v < 0 ? 0.1 * v : v)));
    const big = exactTensor(a.map((v) => 8 * v), [3, 4]);
    expect(Array.from(f64(tf.relu6(big)))).toEqual(Array.from(a, (v) => Math.min(Math.max(0, 8 * v), 6)));
    expect(Array.from(f64(tf.reverse(X, 1)))).toEqual([0, 1, 2].flatMap((r) => [3, 2, 1, 0].map((j) => a[4 * r + j])));
    expect(Array.from(f64(tf.reverse(X, [0, 1])))).toEqual(Array.from(a).reverse());
  });

  it('gather, its gradient (unsortedSegmentSum) and split keep every bit; a bad index is an error naming it', () => {
    const a = rand(4 * 3), X = exactTensor(a, [4, 3]);
    const row = (r: number) => [a[3 * r], a[3 * r + 1], a[3 * r + 2]];
    const idx = tf.tensor1d([3, 0, 0, 2], 'int32');
    expect(Array.from(f64(tf.gather(X, idx, 0)))).toEqual([...row(3), ...row(0), ...row(0), ...row(2)]);
    expect(Array.from(f64(tf.gather(X, tf.tensor1d([2, 0], 'int32'), 1)))).toEqual([0, 1, 2, 3].flatMap((r) => [a[3 * r + 2], a[3 * r]]));
    expect(() => tf.gather(X, tf.tensor1d([4], 'int32'), 0)).toThrow(/GatherV2: the index value 4 is not in \[0, 3\]/);
    // Row sums by segment, in row order; an id outside [0, 3) is dropped.
    const seg = f64(tf.unsortedSegmentSum(X, tf.tensor1d([1, 0, 1, 7], 'int32'), 3));
    expect(Array.from(seg)).toEqual([...row(1), ...row(0).map((v, j) => v + row(2)[j]), 0, 0, 0]);
    const [p, q] = tf.split(X, [1, 2], 1);
    expect(Array.from(f64(p))).toEqual([0, 1, 2, 3].map((r) => a[3 * r]));
    expect(Array.from(f64(q))).toEqual([0, 1, 2, 3].flatMap((r) => [a[3 * r + 1], a[3 * r + 2]]));
    expect(tf.split(X, 2, 0).map((t) => Array.from(f64(t)))).toEqual([[...row(0), ...row(1)], [...row(2), ...row(3)]]);
  });

  it('a kernel without a float64 implementation throws naming it; integer-only kernels still run', () => {
    const A = exactTensor(rand(6), [6]);
    expect(() => tf.cumsum(A)).toThrow(/float64: the Cumsum kernel has no float64 implementation/);
    // A float Range would be made in float32 by the cpu backend: refused, by name.
    expect(() => tf.range(0, 1, 0.1)).toThrow(/the Range kernel has no float64 implementation/);
    expect(Array.from(tf.range(0, 4, 1, 'int32').dataSync())).toEqual([0, 1, 2, 3]);
    // The process stays usable, and the report names float64 kernels apart.
    expect(f64(tf.add(A, A))[0]).toBe(2 * A.dataSync()[0]);
    expect(Object.keys(kernelReport()).some((k) => k === 'Add (float64)')).toBe(true);
  });
});

describe("createTfjsFunction({ precision: 'float64' })", () => {
  const model = () => ({
    params: { w: tf.zeros([3, 2]), b: tf.zeros([2]) },
    apply: (p: Record<string, tf.Tensor>, x: tf.Tensor) => tf.add(tf.matMul(x, p.w), p.b),
  });
  const data = () => ({ x: { values: Float64Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]), shape: [2, 3] }, y: { values: Float64Array.from([1e-9, 0.3, 0.7, 1]), shape: [2, 2] } });

  it('parameters and data reach the model without float32: a 1e-9 step changes f as the gradient says', async () => {
    const fn = await createTfjsFunction({ model: model(), data: data(), precision: 'float64', quiet: true });
    try {
      expect(fn.precision).toBe('float64');
      const x = Float64Array.from({ length: fn.size }, (_, i) => 0.1 * (i + 1));
      const g = new Float64Array(fn.size);
      const f0 = fn.objectiveAndGradient(x, g);
      const h = 1e-9;
      const x1 = x.slice(); x1[0] += h;
      // Central difference of a quadratic is exact up to rounding of f (~1e-17 here).
      const x2 = x.slice(); x2[0] -= h;
      const fd = (fn.objective(x1) - fn.objective(x2)) / (2 * h);
      expect(Math.abs(fd - g[0])).toBeLessThan(1e-6 * Math.abs(g[0]));
      expect(f0).toBeGreaterThan(0);
      // f in closed form (mse over 4 outputs), in double.
      const X = [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]], Y = [[1e-9, 0.3], [0.7, 1]];
      let want = 0;
      for (let r = 0; r < 2; r++) for (let j = 0; j < 2; j++) {
        let z = x[6 + j];
        for (let i = 0; i < 3; i++) z += X[r][i] * x[i * 2 + j];
        want += (z - Y[r][j]) ** 2;
      }
      expect(Math.abs(f0 - want / 4) / (want / 4)).toBeLessThan(1e-15);
    } finally {
      fn.dispose();
    }
  });

  it('refuses another backend with float64, and an evaluation after the backend changed', async () => {
    await expect(createTfjsFunction({ model: model(), data: data(), precision: 'float64', backend: 'cpu', quiet: true }))
      .rejects.toThrow(/precision 'float64' runs on the petscml-float64 backend/);
    await expect(createTfjsFunction({ model: model(), data: data(), precision: 'double' as never, quiet: true }))
      .rejects.toThrow(/precision must be 'float32' or 'float64'/);
    await expect(createTfjsFunction({ model: model(), data: data(), precision: 'float32', quiet: true }))
      .rejects.toThrow(/precision 'float32' was asked for, but the backend is petscml-float64/);
    const fn = await createTfjsFunction({ model: model(), data: data(), precision: 'float64', quiet: true });
    try {
      await initBackend({ backend: 'cpu', quiet: true });
      expect(() => fn.objective(new Float64Array(fn.size))).toThrow(/computes in float64, but tfjs's active backend is now 'cpu'/);
      await initBackend({ backend: 'petscml-float64', quiet: true });
      expect(Number.isFinite(fn.objective(new Float64Array(fn.size)))).toBe(true);
    } finally {
      fn.dispose();
    }
  });
});
