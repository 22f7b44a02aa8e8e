// The 3-D Fourier layer and the FNO-3D builder of the Navier-Stokes case (CASES.md 1.4, 3.4).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { dftBasis3d, fourierLayer3d, fourierModes3d, initBackend } from '../../src/functions';
import { fno3d } from '../../src/models';
import { Random } from '../../src/problems';

beforeAll(async () => {
  await initBackend({ quiet: true });
});

/**
 * numpy's rfftn over (x, y, t) -> keep the four corners -> complex mixing -> irfftn, in float64
 * from the definitions: X[k] = sum x e^{-2 pi i k.n/N}; y = irfft_t(ifft_y(ifft_x(Y))), where the
 * C2R along t takes the real part of the kt = 0 bin and counts the other kept bins twice.
 */
function spectralReference3d(x: Float64Array, batch: number, n: number[], cin: number, cout: number, modes: number[], wRe: Float64Array, wIm: Float64Array): Float64Array {
  const [n1, n2, n3] = n, [m1, m2, m3] = modes;
  const freq = (q: number, m: number, nn: number) => (q < m ? q : nn - 2 * m + q);
  const K1 = 2 * m1, K2 = 2 * m2;
  const y = new Float64Array(batch * n1 * n2 * n3 * cout);
  const at = (b: number, i: number, j: number, l: number, c: number, ch: number) => (((b * n1 + i) * n2 + j) * n3 + l) * ch + c;
  for (let b = 0; b < batch; b++) {
    for (let qt = 0; qt < m3; qt++) for (let qy = 0; qy < K2; qy++) for (let qx = 0; qx < K1; qx++) {
      const kx = freq(qx, m1, n1), ky = freq(qy, m2, n2), kt = qt;
      const Xr = new Float64Array(cin), Xi = new Float64Array(cin);
      for (let i = 0; i < n1; i++) for (let j = 0; j < n2; j++) for (let l = 0; l < n3; l++) {
        const th = 2 * Math.PI * (kx * i / n1 + ky * j / n2 + kt * l / n3);
        const c = Math.cos(th), s = Math.sin(th);
        for (let ch = 0; ch < cin; ch++) {
          const v = x[at(b, i, j, l, ch, cin)];
          Xr[ch] += v * c; Xi[ch] -= v * s;
        }
      }
      const mode = (qt * K2 + qy) * K1 + qx;
      for (let o = 0; o < cout; o++) {
        let yr = 0, yi = 0;
        for (let ch = 0; ch < cin; ch++) {
          const wr = wRe[(mode * cin + ch) * cout + o], wi = wIm[(mode * cin + ch) * cout + o];
          yr += Xr[ch] * wr - Xi[ch] * wi;
          yi += Xr[ch] * wi + Xi[ch] * wr;
        }
        const ck = kt === 0 ? 1 : 2;
        for (let i = 0; i < n1; i++) for (let j = 0; j < n2; j++) for (let l = 0; l < n3; l++) {
          const th = 2 * Math.PI * (kx * i / n1 + ky * j / n2 + kt * l / n3);
          y[at(b, i, j, l, o, cout)] += (ck * (yr * Math.cos(th) - yi * Math.sin(th))) / (n1 * n2 * n3);
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

describe('fourierLayer3d', () => {
  it('equals rfftn, the four corner weights and irfftn computed in float64 (8 x 6 x 10 grid, modes 2, 3, 2)', () => {
    const batch = 2, n = [8, 6, 10], cin = 3, cout = 2, modes = [2, 3, 2] as const;
    const M = fourierModes3d(modes);
    expect(M).toBe(4 * 2 * 3 * 2);
    const r = new Random(11);
    const x = Float64Array.from({ length: batch * n[0] * n[1] * n[2] * cin }, () => r.normal());
    const wRe = Float64Array.from({ length: M * cin * cout }, () => r.normal());
    const wIm = Float64Array.from({ length: M * cin * cout }, () => r.normal());
    const basis = dftBasis3d([n[0], n[1], n[2]], modes);
    const y = tf.tidy(() => fourierLayer3d(tf.tensor(Float32Array.from(x), [batch, n[0], n[1], n[2], cin]),
      tf.tensor3d(Float32Array.from(wRe), [M, cin, cout]), tf.tensor3d(Float32Array.from(wIm), [M, cin, cout]), basis).dataSync());
    basis.dispose();
    const ref = spectralReference3d(x, batch, n, cin, cout, [...modes], wRe, wIm);
    // float32 sums of <= 480 terms: measured ~3e-7
    expect(rel(y, ref)).toBeLessThan(2e-6);
  });

  it('passes a band-limited field through unchanged with identity weights, and removes the modes above', () => {
    const n = [8, 8, 12] as const, modes = [2, 2, 3] as const;
    const M = fourierModes3d(modes);
    const f = (i: number, j: number, l: number, high: boolean) => {
      const x = i / n[0], y = j / n[1], t = l / n[2];
      // kept: kx = -1 (the high corner), ky = 1, kt = 2; dropped: kx = 3 > modes
      const kept = 0.7 + Math.cos(2 * Math.PI * (-x + y)) + 0.5 * Math.sin(2 * Math.PI * (y + 2 * t));
      return high ? kept + 0.3 * Math.cos(2 * Math.PI * 3 * x) : kept;
    };
    const grid = (high: boolean) => {
      const v = new Float32Array(n[0] * n[1] * n[2]);
      for (let i = 0; i < n[0]; i++) for (let j = 0; j < n[1]; j++) for (let l = 0; l < n[2]; l++) v[(i * n[1] + j) * n[2] + l] = f(i, j, l, high);
      return v;
    };
    const basis = dftBasis3d(n, modes);
    const y = tf.tidy(() => fourierLayer3d(tf.tensor(grid(true), [1, ...n, 1]), tf.ones([M, 1, 1]) as tf.Tensor3D, tf.zeros([M, 1, 1]) as tf.Tensor3D, basis).dataSync());
    basis.dispose();
    const want = grid(false);
    let worst = 0;
    for (let q = 0; q < want.length; q++) worst = Math.max(worst, Math.abs(y[q] - want[q]));
    expect(worst).toBeLessThan(1e-5);
  });
});

describe('fno3d', () => {
  it('has 6,558,377 parameters at the paper\'s width 20, modes 8 (the FNO paper\'s 6,558,537 less 160 unused BatchNorm)', () => {
    const paper = fno3d({ resolution: 64, width: 20, modes: 8, inputSteps: 10, outputSteps: 40 });
    expect(paper.parameterCount).toBe(6_558_377);
    paper.dispose();
    // CASES.md 3.7's CPU variant: width 8, modes 4, 10 -> 10 (132,753 with the 13-channel lift of T_in = 10)
    const cpu = fno3d({ resolution: 32, width: 8, modes: 4, inputSteps: 10, outputSteps: 10 });
    expect(cpu.parameterCount).toBe(4 * (2 * 256 * 64 + 72) + (13 * 8 + 8) + (8 * 128 + 128) + 129);
    cpu.dispose();
  });

  it('maps [batch, s*s*T_in] to [batch, s*s*T], decodes its output, and refuses bad sizes by name', () => {
    const s = 8, tIn = 3, tOut = 4;
    const before = tf.memory().numTensors;
    const m = fno3d({ resolution: s, width: 3, modes: [2, 2, 2], inputSteps: tIn, outputSteps: tOut, padding: 2, projection: 5, seed: 2 });
    const x = tf.randomNormal([2, s * s * tIn], 0, 1, 'float32', 3);
    const z = tf.tidy(() => m.apply(m.params, x));
    expect(z.shape).toEqual([2, s * s * tOut]);
    const mean = Float32Array.from({ length: s * s * tOut }, (_, j) => j / 100);
    const std = Float32Array.from({ length: s * s * tOut }, (_, j) => 1 + j / 50);
    const d = fno3d({ resolution: s, width: 3, modes: [2, 2, 2], inputSteps: tIn, outputSteps: tOut, padding: 2, projection: 5, seed: 2, decode: { mean, std } });
    const zd = tf.tidy(() => d.apply(d.params, x));
    const zv = z.dataSync(), dv = zd.dataSync();
    for (let q = 0; q < zv.length; q++) {
      const j = q % (s * s * tOut);
      expect(dv[q]).toBeCloseTo(zv[q] * (std[j] + 1e-5) + mean[j], 5);
    }
    tf.dispose([x, z, zd]);
    expect(() => tf.tidy(() => m.apply(m.params, tf.ones([1, s * s * tIn + 1])))).toThrow(/shape \[batch, 192\]/);
    m.dispose();
    d.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(() => fno3d({ resolution: 8, modes: 5 })).toThrow(/spatial modes \(5, 5\) must be at most resolution \/ 2/);
    expect(() => fno3d({ resolution: 8, modes: [2, 2, 9], outputSteps: 10, padding: 6 })).toThrow(/time modes \(9\) must be at most/);
    expect(() => fno3d({ resolution: 8, modes: 2, width: 0 })).toThrow(/width must be an integer >= 1, got 0/);
    expect(() => fno3d({ resolution: 8, modes: 2, decode: { mean: [1], std: [1] } })).toThrow(/decode.mean and decode.std must have/);
  });
});
