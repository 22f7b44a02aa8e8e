// The DeepONet builders (CASES.md 4.4, 4.7, 5.4) and the POD basis (sklearn PCA semantics).
import * as tf from '@tensorflow/tfjs';
import { Matrix, SVD } from 'ml-matrix';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../src/functions';
import { deeponet, podBasis, podDeeponet, type PodBasis } from '../../src/models';
import { Random } from '../../src/problems';

beforeAll(async () => {
  await initBackend({ quiet: true });
});

const data = (t: tf.Tensor) => Float64Array.from(t.dataSync());

/** Mean and population standard deviation of a tensor's entries. */
function stats(t: tf.Tensor): { mean: number; std: number; maxAbs: number } {
  const v = t.dataSync();
  let s = 0; let s2 = 0; let maxAbs = 0;
  for (const x of v) { s += x; s2 += x * x; maxAbs = Math.max(maxAbs, Math.abs(x)); }
  const mean = s / v.length;
  return { mean, std: Math.sqrt(s2 / v.length - mean * mean), maxAbs };
}

/** Dense layer in float64: rows h [batch][in] times w [in, out] (row-major) plus b. */
function dense64(h: number[][], w: Float64Array, b: Float64Array, nOut: number): number[][] {
  return h.map((row) => Array.from({ length: nOut }, (_, o) => row.reduce((s, x, i) => s + x * w[i * nOut + o], b[o])));
}
const relu = (h: number[][]) => h.map((r) => r.map((x) => Math.max(x, 0)));

describe('deeponet', () => {
  it('has 7,441 parameters at width 40, depth 2 (CASES 4.7) and 30,601 at width 100, m = 100', () => {
    const cpu = deeponet({ sensors: 100 });
    expect(cpu.parameterCount).toBe(7_441);
    expect(cpu.branch).toEqual([40, 40]);
    expect(cpu.trunk).toEqual([40, 40]);
    expect(Object.fromEntries(Object.entries(cpu.params).map(([k, v]) => [k, v.shape]))).toEqual({
      branch0_w: [100, 40], branch0_b: [40], branch1_w: [40, 40], branch1_b: [40],
      trunk0_w: [2, 40], trunk0_b: [40], trunk1_w: [40, 40], trunk1_b: [40], b0: [1],
    });
    cpu.dispose();
    const wide = deeponet({ sensors: 100, width: 100 });
    expect(wide.parameterCount).toBe(30_601);
    wide.dispose();
    // DeepXDE's layer lists [m, 40, 40] / [2, 40, 40] without their input entries: the same net.
    const lists = deeponet({ sensors: 100, branch: [40, 40], trunk: [40, 40] });
    expect(lists.parameterCount).toBe(7_441);
    lists.dispose();
    const deep = deeponet({ sensors: 10, coordinates: 1, branch: [8, 6], trunk: [5, 7, 6] });
    expect(deep.parameterCount).toBe((10 * 8 + 8) + (8 * 6 + 6) + (1 * 5 + 5) + (5 * 7 + 7) + (7 * 6 + 6) + 1);
    deep.dispose();
  });

  it('maps rows [u, x, t] to [batch, 1]: linear branch output, activated trunk output, plus b0', () => {
    const m = 3; const w = 4;
    const net = deeponet({ sensors: m, width: w, seed: 5 });
    // Non-zero biases and b0, so that each one is seen.
    const r = new Random(9);
    const params: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(net.params)) params[k] = tf.tensor(Float32Array.from({ length: v.size }, () => r.normal()), v.shape);
    const rows = [[0.3, -1.2, 0.8, 0.25, 0.5], [-0.7, 0.1, 1.5, 0.9, 0.05], [1.1, 0.4, -0.2, 0.0, 1.0]];
    const y = tf.tidy(() => data(net.apply(params, tf.tensor2d(rows))));
    const P = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, data(v)]));
    const b = dense64(relu(dense64(rows.map((x) => x.slice(0, m)), P.branch0_w, P.branch0_b, w)), P.branch1_w, P.branch1_b, w);
    const t = relu(dense64(relu(dense64(rows.map((x) => x.slice(m)), P.trunk0_w, P.trunk0_b, w)), P.trunk1_w, P.trunk1_b, w));
    const want = b.map((bi, i) => bi.reduce((s, x, k) => s + x * t[i][k], P.b0[0]));
    expect(y.length).toBe(3);
    for (let i = 0; i < 3; i++) expect(Math.abs(y[i] - want[i])).toBeLessThan(1e-5 * (1 + Math.abs(want[i])));
    expect(tf.tidy(() => net.apply(net.params, tf.zeros([7, m + 2])).shape)).toEqual([7, 1]);
    expect(() => tf.tidy(() => net.apply(net.params, tf.zeros([7, m + 1])))).toThrow(/shape \[batch, 5\], got \[7, 4\]/);
    tf.dispose(Object.values(params));
    net.dispose();
  });

  it('initialises as DeepXDE\'s Glorot normal (truncated at 2 sigma, std sqrt(2 / (fan_in + fan_out))) with zero biases', () => {
    const net = deeponet({ sensors: 100, seed: 1 });
    const k = stats(net.params.branch0_w); // 4,000 samples
    const sd = Math.sqrt(2 / 140);
    // the sample std of 4,000 draws is within ~1.1% (one sigma) of the true one
    expect(Math.abs(k.std / sd - 1)).toBeLessThan(0.04);
    expect(Math.abs(k.mean)).toBeLessThan(3 * sd / Math.sqrt(4000));
    const cut = 2 * sd / 0.87962566103423978;
    expect(k.maxAbs).toBeLessThanOrEqual(cut * (1 + 1e-6));
    expect(k.maxAbs).toBeGreaterThan(0.95 * cut);
    for (const name of ['branch0_b', 'branch1_b', 'trunk0_b', 'trunk1_b', 'b0']) expect(stats(net.params[name]).maxAbs).toBe(0);
    const again = deeponet({ sensors: 100, seed: 1 });
    const other = deeponet({ sensors: 100, seed: 2 });
    expect(Array.from(again.params.trunk1_w.dataSync())).toEqual(Array.from(net.params.trunk1_w.dataSync()));
    expect(Array.from(other.params.trunk1_w.dataSync())).not.toEqual(Array.from(net.params.trunk1_w.dataSync()));
    for (const x of [net, again, other]) x.dispose();
  });

  it('refuses bad options by name', () => {
    expect(() => deeponet(undefined as never)).toThrow(/petscml: deeponet: expected an options object/);
    expect(() => deeponet({} as never)).toThrow(/petscml: deeponet: sensors must be an integer >= 1, got undefined/);
    expect(() => deeponet({ sensors: 10, width: 0 })).toThrow(/width must be an integer >= 1, got 0/);
    expect(() => deeponet({ sensors: 10, depth: 1.5 })).toThrow(/depth must be an integer >= 1, got 1.5/);
    expect(() => deeponet({ sensors: 10, coordinates: 0 })).toThrow(/coordinates must be an integer >= 1, got 0/);
    expect(() => deeponet({ sensors: 10, activation: 'gelu' as never })).toThrow(/activation must be 'relu' or 'tanh', got 'gelu'/);
    expect(() => deeponet({ sensors: 10, branch: [] })).toThrow(/branch must be a non-empty array/);
    expect(() => deeponet({ sensors: 10, trunk: [4, -1] })).toThrow(/trunk\[1\] must be an integer >= 1, got -1/);
    expect(() => deeponet({ sensors: 10, branch: [40, 30] })).toThrow(/branch \[40, 30\] and trunk \[40, 40\] must end in the same width/);
    expect(() => deeponet({ sensors: 10, width: 20, branch: [40, 40], trunk: [40, 40] })).toThrow(/width \(20\) conflicts with branch \[40, 40\]/);
    expect(() => deeponet({ sensors: 10, depth: 3, trunk: [40, 40] })).toThrow(/depth \(3\) conflicts with trunk \[40, 40\] \(2 layers\)/);
  });

  it('dispose frees every tensor it made', () => {
    const before = tf.memory().numTensors;
    const net = deeponet({ sensors: 5, width: 3, activation: 'tanh' });
    tf.tidy(() => { net.apply(net.params, tf.ones([2, 7])); });
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

/** Centred data's SVD with ml-matrix, the direct route podBasis avoids. */
function directSvd(x: Float64Array, n: number, points: number) {
  const mean = new Float64Array(points);
  for (let i = 0; i < n; i++) for (let j = 0; j < points; j++) mean[j] += x[i * points + j] / n;
  const X = new Matrix(n, points);
  for (let i = 0; i < n; i++) for (let j = 0; j < points; j++) X.set(i, j, x[i * points + j] - mean[j]);
  const svd = new SVD(X, { autoTranspose: true });
  return { mean, s: svd.diagonal, V: svd.rightSingularVectors };
}

/** Low-rank signal with decaying amplitudes plus small noise: distinct singular values. */
function lowRank(n: number, points: number, seed: number): Float64Array {
  const r = new Random(seed);
  const x = new Float64Array(n * points);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 6; k++) {
      const c = r.normal() * 2 ** -k;
      for (let j = 0; j < points; j++) x[i * points + j] += c * Math.sin((k + 1) * (j + 0.5) * 0.7 + k);
    }
    for (let j = 0; j < points; j++) x[i * points + j] += 1e-3 * r.normal() + 0.5 + j / points;
  }
  return x;
}

function checkAgainstSvd(n: number, points: number, seed: number) {
  const x = lowRank(n, points, seed);
  const pod = podBasis(x, n, points, { varianceExplained: 0.999999 });
  const ref = directSvd(x, n, points);
  const total = ref.s.reduce((a, s) => a + s * s, 0);
  // sklearn's rule on the direct singular values
  let cum = 0; let p = 0;
  while (p < ref.s.length) { cum += ref.s[p] ** 2 / total; p++; if (cum > 0.999999) break; }
  expect(pod.p).toBe(p);
  expect(pod.p).toBeGreaterThan(3);
  let maxMean = 0; let maxS = 0; let maxRatio = 0; let maxAlign = 0; let maxOrtho = 0;
  for (let j = 0; j < points; j++) maxMean = Math.max(maxMean, Math.abs(pod.mean[j] - ref.mean[j]));
  for (let k = 0; k < pod.p; k++) {
    maxS = Math.max(maxS, Math.abs(pod.singularValues[k] - ref.s[k]) / ref.s[0]);
    maxRatio = Math.max(maxRatio, Math.abs(pod.explained[k] - ref.s[k] ** 2 / total));
    // the same direction up to sign (the singular values are distinct)
    let dot = 0;
    for (let j = 0; j < points; j++) dot += pod.basis[j * pod.p + k] * ref.V.get(j, k);
    maxAlign = Math.max(maxAlign, 1 - Math.abs(dot));
    for (let l = 0; l <= k; l++) {
      let g = 0;
      for (let j = 0; j < points; j++) g += pod.basis[j * pod.p + k] * pod.basis[j * pod.p + l];
      maxOrtho = Math.max(maxOrtho, Math.abs(g - (k === l ? 1 : 0)));
    }
    // the sign convention: the entry of largest magnitude is positive
    let big = 0;
    for (let j = 0; j < points; j++) if (Math.abs(pod.basis[j * pod.p + k]) > Math.abs(pod.basis[big * pod.p + k])) big = j;
    expect(pod.basis[big * pod.p + k]).toBeGreaterThan(0);
  }
  const e = { n, points, p: pod.p, maxMean, maxS, maxRatio, maxAlign, maxOrtho };
  if (process.env.PETSCML_SHOW_ERRORS) console.log(JSON.stringify(e));
  return e;
}

describe('podBasis', () => {
  it('equals the SVD of the centred outputs (n < points: Gram matrix of the samples)', () => {
    const e = checkAgainstSvd(12, 20, 3);
    expect(e.maxMean).toBeLessThan(1e-14);
    expect(e.maxS).toBeLessThan(1e-12);
    expect(e.maxRatio).toBeLessThan(1e-12);
    // modes down to 1e-3 of the largest: squaring costs ~eps / 1e-6 in direction
    expect(e.maxAlign).toBeLessThan(1e-9);
    expect(e.maxOrtho).toBeLessThan(1e-9);
  });

  it('equals the SVD of the centred outputs (n > points: Gram matrix of the points)', () => {
    const e = checkAgainstSvd(30, 9, 4);
    expect(e.maxS).toBeLessThan(1e-12);
    expect(e.maxRatio).toBeLessThan(1e-12);
    expect(e.maxAlign).toBeLessThan(1e-9);
    expect(e.maxOrtho).toBeLessThan(1e-9);
  });

  it('keeps the fewest modes whose cumulative explained variance ratio exceeds the fraction (sklearn PCA(0.9999))', () => {
    // Variances 18, 2, 0.02 along e0, e1, e2 (ratios 0.89910, 0.09990, 0.00100), around a mean of 5 + j.
    const rows = [[3, 0, 0, 0], [-3, 0, 0, 0], [0, 1, 0, 0], [0, -1, 0, 0], [0, 0, 0.1, 0], [0, 0, -0.1, 0]];
    const x = Float64Array.from(rows.flatMap((r) => r.map((v, j) => v + 5 + j)));
    const p = (fraction?: number) => podBasis(x, 6, 4, fraction === undefined ? {} : { varianceExplained: fraction }).p;
    expect(p()).toBe(3); // cumulative 0.999001 after two modes is not above 0.9999
    expect(p(0.999)).toBe(2);
    expect(p(0.9)).toBe(2); // 0.8991 after one
    expect(p(0.899)).toBe(1);
    expect(p(0.5)).toBe(1);
    const pod = podBasis(x, 6, 4);
    expect(Array.from(pod.mean)).toEqual([5, 6, 7, 8]);
    expect(pod.explained[0]).toBeCloseTo(18 / 20.02, 14);
    expect(pod.explained[2]).toBeCloseTo(0.02 / 20.02, 14);
    expect(pod.singularValues[1]).toBeCloseTo(Math.sqrt(2), 13);
    // the modes are e0, e1, e2, each with its non-zero entry positive
    const mode = (k: number) => [0, 1, 2, 3].map((j) => pod.basis[j * pod.p + k]);
    for (let k = 0; k < 3; k++) for (let j = 0; j < 4; j++) expect(mode(k)[j]).toBeCloseTo(j === k ? 1 : 0, 12);
    expect(podBasis(x, 6, 4, { components: 1 }).p).toBe(1);
    expect(() => podBasis(x, 6, 4, { components: 4 })).toThrow(/components \(4\) exceeds the rank \(3\)/);
  });

  it('refuses bad input by name', () => {
    const x = new Float64Array(12).map((_, i) => i * i);
    expect(() => podBasis([1, 2] as never, 2, 1)).toThrow(/petscml: podBasis: outputs must be a Float32Array or Float64Array/);
    expect(() => podBasis(x, 3, 5)).toThrow(/outputs has 12 values, but n x points = 3 x 5 = 15/);
    expect(() => podBasis(x, 1, 12)).toThrow(/n \(samples\) must be an integer >= 2, got 1/);
    expect(() => podBasis(x, 3, 4, { varianceExplained: 1 })).toThrow(/varianceExplained must be a number in \(0, 1\), got 1/);
    expect(() => podBasis(x, 3, 4, { varianceExplained: 0.9, components: 2 })).toThrow(/not both/);
    expect(() => podBasis(x, 3, 4, { components: 5 })).toThrow(/components must be an integer in \[1, min\(n, points\) = 3\], got 5/);
    expect(() => podBasis(Float32Array.from([1, 2, 1, 2]), 2, 2)).toThrow(/all equal: no variance/);
    expect(() => podBasis(Float32Array.from([1, 2, NaN, 2]), 2, 2)).toThrow(/NaN at sample 1, point 0/);
  });
});

describe('podDeeponet', () => {
  /** A made-up orthonormal-column basis of p modes on `points` points. */
  function fakeBasis(points: number, p: number): PodBasis {
    const basis = new Float64Array(points * p);
    for (let k = 0; k < p; k++) basis[k * p + k] = 1;
    return { mean: Float64Array.from({ length: points }, (_, j) => j / points), basis, p, points, samples: 0, explained: new Float64Array(p), singularValues: new Float64Array(p) };
  }

  it('has 20,992 + 513 p parameters: 40,486 for p = 38 and 37,408 for p = 32 (branch [40, 512, p])', () => {
    for (const [p, count] of [[38, 40_486], [32, 37_408]]) {
      const net = podDeeponet({ sensors: 40, basis: fakeBasis(1600, p) });
      expect(net.parameterCount).toBe(count);
      expect(net.parameterCount).toBe(20_992 + 513 * p);
      expect(net.params.branch1_w.shape).toEqual([512, p]);
      net.dispose();
    }
  });

  it('outputs (branch(u0) . (basis sqrt(points))^T) / p + mean, [batch, points]', () => {
    const n = 10; const points = 15; const sensors = 4;
    const pod = podBasis(lowRank(n, points, 7), n, points, { varianceExplained: 0.99 });
    const net = podDeeponet({ sensors, basis: pod, width: 6, seed: 2 });
    const r = new Random(1);
    const params: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(net.params)) params[k] = tf.tensor(Float32Array.from({ length: v.size }, () => r.normal()), v.shape);
    const u = [[0.5, -1, 0.2, 0.9], [1.5, 0.3, -0.4, 0.0]];
    const y = tf.tidy(() => data(net.apply(params, tf.tensor2d(u))));
    const P = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, data(v)]));
    const b = dense64(relu(dense64(u, P.branch0_w, P.branch0_b, 6)), P.branch1_w, P.branch1_b, pod.p);
    let err = 0; let norm = 0;
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < points; j++) {
        let s = 0;
        for (let k = 0; k < pod.p; k++) s += b[i][k] * pod.basis[j * pod.p + k] * Math.sqrt(points);
        const want = s / pod.p + pod.mean[j];
        err = Math.max(err, Math.abs(y[i * points + j] - want)); norm = Math.max(norm, Math.abs(want));
      }
    }
    expect(err / norm).toBeLessThan(1e-5);
    // at the initial weights (zero biases) a zero input gives the mean
    const y0 = tf.tidy(() => data(net.apply(net.params, tf.zeros([1, sensors]))));
    for (let j = 0; j < points; j++) expect(y0[j]).toBeCloseTo(pod.mean[j], 5);
    expect(() => tf.tidy(() => net.apply(net.params, tf.zeros([1, 5])))).toThrow(/petscml: podDeeponet: expected inputs of shape \[batch, 4\], got \[1, 5\]/);
    tf.dispose(Object.values(params));
    net.dispose();
  });

  it('refuses bad options by name, and dispose frees every tensor it made', () => {
    const basis = fakeBasis(8, 2);
    expect(() => podDeeponet({ sensors: 4 } as never)).toThrow(/petscml: podDeeponet: basis must be the result of podBasis/);
    expect(() => podDeeponet({ sensors: 0, basis })).toThrow(/sensors must be an integer >= 1, got 0/);
    expect(() => podDeeponet({ sensors: 4, basis, width: -2 })).toThrow(/width must be an integer >= 1, got -2/);
    expect(() => podDeeponet({ sensors: 4, basis: { ...basis, p: 3 } })).toThrow(/needs a mean of 8 and a basis of 24 values; got 8 and 16/);
    const before = tf.memory().numTensors;
    const net = podDeeponet({ sensors: 4, basis, width: 3 });
    tf.tidy(() => { net.apply(net.params, tf.ones([2, 4])); });
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
