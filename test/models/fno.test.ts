// The FNO-1D builder and its spectral layer at the paper's sizes (CASES.md 1.4, 2.4), and the
// point-wise Gaussian normaliser (CASES.md 1.3).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { dftBasis, fourierLayer1d, initBackend } from '../../src/functions';
import { fno1d } from '../../src/models';
import { UnitGaussianNormalizer } from '../../src/data';
import { Random } from '../../src/problems';

beforeAll(async () => {
  await initBackend({ quiet: true });
});

/** numpy's rfft -> keep `modes` -> complex mixing -> irfft(n), in float64 from the definitions. */
function spectralReference(x: Float64Array, batch: number, n: number, cin: number, cout: number, modes: number, wRe: Float64Array, wIm: Float64Array): Float64Array {
  const y = new Float64Array(batch * n * cout);
  for (let b = 0; b < batch; b++) {
    const Xr = new Float64Array(modes * cin), Xi = new Float64Array(modes * cin);
    for (let k = 0; k < modes; k++) {
      for (let c = 0; c < cin; c++) {
        for (let j = 0; j < n; j++) {
          const th = (2 * Math.PI * k * j) / n, v = x[(b * n + j) * cin + c];
          Xr[k * cin + c] += v * Math.cos(th);
          Xi[k * cin + c] -= v * Math.sin(th);
        }
      }
    }
    for (let o = 0; o < cout; o++) {
      for (let k = 0; k < modes; k++) {
        let yr = 0, yi = 0;
        for (let c = 0; c < cin; c++) {
          const wr = wRe[(k * cin + c) * cout + o], wi = wIm[(k * cin + c) * cout + o];
          yr += Xr[k * cin + c] * wr - Xi[k * cin + c] * wi;
          yi += Xr[k * cin + c] * wi + Xi[k * cin + c] * wr;
        }
        // irfft: mode 0's imaginary part is dropped (C2R), the other kept modes count twice
        for (let j = 0; j < n; j++) {
          const th = (2 * Math.PI * k * j) / n;
          y[(b * n + j) * cout + o] += k === 0 ? yr / n : (2 / n) * (yr * Math.cos(th) - yi * Math.sin(th));
        }
      }
    }
  }
  return y;
}

const rel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num / den);
};

describe('fourierLayer1d', () => {
  it('equals rfft, mode truncation, complex mixing and irfft computed in float64 (s = 128, 16 modes)', () => {
    const batch = 3, n = 128, cin = 4, cout = 5, modes = 16;
    const r = new Random(5);
    const x = Float64Array.from({ length: batch * n * cin }, () => r.normal());
    const wRe = Float64Array.from({ length: modes * cin * cout }, () => r.normal());
    const wIm = Float64Array.from({ length: modes * cin * cout }, () => r.normal());
    const basis = dftBasis(n, modes);
    const y = tf.tidy(() => fourierLayer1d(tf.tensor3d(Float32Array.from(x), [batch, n, cin]),
      tf.tensor3d(Float32Array.from(wRe), [modes, cin, cout]), tf.tensor3d(Float32Array.from(wIm), [modes, cin, cout]), basis).dataSync());
    basis.dispose();
    const ref = spectralReference(x, batch, n, cin, cout, modes, wRe, wIm);
    // float32 sums of 128 terms: measured 2.4e-7
    expect(rel(y, ref)).toBeLessThan(2e-6);
  });

  it('passes a band-limited signal through unchanged with identity weights, and removes the modes above', () => {
    const n = 64, modes = 8;
    const x = Float32Array.from({ length: n }, (_, j) => 1 + Math.cos((2 * Math.PI * 3 * j) / n) + 0.5 * Math.sin((2 * Math.PI * 20 * j) / n));
    const basis = dftBasis(n, modes);
    const y = tf.tidy(() => fourierLayer1d(tf.tensor3d(x, [1, n, 1]), tf.ones([modes, 1, 1]) as tf.Tensor3D, tf.zeros([modes, 1, 1]) as tf.Tensor3D, basis).dataSync());
    basis.dispose();
    const want = Float64Array.from({ length: n }, (_, j) => 1 + Math.cos((2 * Math.PI * 3 * j) / n));
    for (let j = 0; j < n; j++) expect(Math.abs(y[j] - want[j])).toBeLessThan(1e-5);
  });
});

describe('fno1d', () => {
  it('has the paper\'s 549,569 parameters at width 64, 16 modes (and 139,745 for the CPU variant, width 32)', () => {
    const paper = fno1d({ resolution: 128 });
    expect(paper.parameterCount).toBe(549_569);
    paper.dispose();
    const cpu = fno1d({ resolution: 128, width: 32 });
    expect(cpu.parameterCount).toBe(139_745);
    cpu.dispose();
  });

  it('initialises as PyTorch does there: spectral weights in [0, 1/width^2), linear ones within 1/sqrt(fan_in)', () => {
    const m = fno1d({ resolution: 32, width: 8, modes: 4, seed: 3 });
    const range = (t: tf.Tensor) => { const v = t.dataSync(); let lo = Infinity, hi = -Infinity; for (const a of v) { lo = Math.min(lo, a); hi = Math.max(hi, a); } return [lo, hi]; };
    const [klo, khi] = range(m.params.k0_re);
    expect(klo).toBeGreaterThanOrEqual(0);
    expect(khi).toBeLessThan(1 / 64);
    expect(khi).toBeGreaterThan(0.9 / 64);
    const [wlo, whi] = range(m.params.w1_w);
    expect(Math.max(-wlo, whi)).toBeLessThanOrEqual(1 / Math.sqrt(8));
    expect(Math.max(-wlo, whi)).toBeGreaterThan(0.8 / Math.sqrt(8));
    const [flo, fhi] = range(m.params.fc0_w);
    expect(Math.max(-flo, fhi)).toBeLessThanOrEqual(1 / Math.sqrt(2));
    // the same seed gives the same weights; another seed other weights
    const again = fno1d({ resolution: 32, width: 8, modes: 4, seed: 3 });
    const other = fno1d({ resolution: 32, width: 8, modes: 4, seed: 4 });
    expect(Array.from(again.params.k2_im.dataSync())).toEqual(Array.from(m.params.k2_im.dataSync()));
    expect(Array.from(other.params.k2_im.dataSync())).not.toEqual(Array.from(m.params.k2_im.dataSync()));
    for (const x of [m, again, other]) x.dispose();
  });

  it('maps [batch, s] to [batch, s] and refuses bad sizes by name', () => {
    const m = fno1d({ resolution: 16, width: 4, modes: 4 });
    const y = tf.tidy(() => m.apply(m.params, tf.ones([3, 16])).shape);
    expect(y).toEqual([3, 16]);
    expect(() => tf.tidy(() => m.apply(m.params, tf.ones([3, 15])))).toThrow(/shape \[batch, 16\], got \[3, 15\]/);
    m.dispose();
    expect(() => fno1d({ resolution: 16, modes: 9 })).toThrow(/modes \(9\) must be at most resolution \/ 2/);
    expect(() => fno1d({ resolution: 16, modes: 4, width: 0 })).toThrow(/width must be an integer >= 1, got 0/);
    expect(() => fno1d({ resolution: 16.5 })).toThrow(/resolution must be an integer/);
    expect(() => fno1d({ resolution: 16, modes: 4, gelu: 'relu' as never })).toThrow(/gelu must be 'erf' or 'tanh'/);
  });
});

describe('UnitGaussianNormalizer', () => {
  const data = { values: Float32Array.from([1, 10, 3, 30, 5, 20]), shape: [3, 2] };
  it('uses the per-point mean and the unbiased std plus eps, and decode inverts encode', () => {
    const nz = UnitGaussianNormalizer.fit(data);
    expect(Array.from(nz.mean)).toEqual([3, 20]);
    expect(nz.std[0]).toBeCloseTo(2, 12); // sqrt(((1-3)^2 + 0 + (5-3)^2) / 2)
    expect(nz.std[1]).toBeCloseTo(10, 12);
    const e = nz.encode(data);
    expect(e.values[0]).toBeCloseTo(-2 / (2 + 1e-5), 6);
    const d = nz.decode(e);
    for (let i = 0; i < 6; i++) expect(d.values[i]).toBeCloseTo(data.values[i], 5);
  });
  it('refuses a single sample, a shape that does not fit, another point count, and NaN', () => {
    expect(() => UnitGaussianNormalizer.fit({ values: new Float32Array(2), shape: [1, 2] })).toThrow(/at least 2 samples/);
    expect(() => UnitGaussianNormalizer.fit({ values: new Float32Array(5), shape: [3, 2] })).toThrow(/needs 6 values, got 5/);
    const nz = UnitGaussianNormalizer.fit(data);
    expect(() => nz.encode({ values: new Float32Array(6), shape: [2, 3] })).toThrow(/fitted on 2/);
    expect(() => UnitGaussianNormalizer.fit({ values: Float32Array.from([1, NaN, 2, 3]), shape: [2, 2] })).toThrow(/point 1 has a non-finite/);
  });
});
