// The GreenLearning Green's-function network (CASES.md 6.4).
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend, rational } from '../../src/functions';
import { greenLearning } from '../../src/models';
import { RATIONAL_RELU_INIT } from '../../src/functions';

beforeAll(async () => {
  await initBackend({ quiet: true });
});

const data = (t: tf.Tensor) => Float64Array.from(t.dataSync());

describe('greenLearning', () => {
  it('has 7,951 linear parameters plus 7 per rational activation (7,979; the authors store 8: 7,983)', () => {
    const net = greenLearning({ resolution: 4 });
    expect(net.parameterCount).toBe(7_979);
    expect(net.storedParameterCount).toBe(7_983);
    const shapes = Object.fromEntries(Object.entries(net.params).map(([k, v]) => [k, v.shape]));
    expect(shapes).toEqual({
      fc0_w: [4, 50], fc0_b: [50], r0_a: [4], r0_b: [3],
      fc1_w: [50, 50], fc1_b: [50], r1_a: [4], r1_b: [3],
      fc2_w: [50, 50], fc2_b: [50], r2_a: [4], r2_b: [3],
      fc3_w: [50, 50], fc3_b: [50], r3_a: [4], r3_b: [3],
      fc4_w: [50, 1], fc4_b: [1],
    });
    let linear = 0;
    for (const [k, v] of Object.entries(net.params)) if (k.startsWith('fc')) linear += v.size;
    expect(linear).toBe(7_951);
    net.dispose();
    const small = greenLearning({ resolution: 3, width: 3, depth: 2 });
    expect(small.parameterCount).toBe((4 * 3 + 3) + (3 * 3 + 3) + (3 + 1) + 2 * 7);
    small.dispose();
  });

  it('maps f [batch, s^2] to [batch, s^2] through an s^2 x s^2 kernel', () => {
    const net = greenLearning({ resolution: 5, width: 6, depth: 2, seed: 1 });
    expect(tf.tidy(() => net.apply(net.params, tf.ones([3, 25])).shape)).toEqual([3, 25]);
    const g = net.kernel();
    expect(g.shape).toEqual([25, 25]);
    g.dispose();
    expect(() => tf.tidy(() => net.apply(net.params, tf.ones([3, 5, 5])))).toThrow(/petscml: greenLearning: expected inputs of shape \[batch, 25\] \(s\^2, s = 5\), got \[3, 5, 5\]/);
    net.dispose();
  });

  it('initialises the rational activations to the best (3, 2) rational approximation of ReLU, linear layers as PyTorch', () => {
    const net = greenLearning({ resolution: 3, seed: 2 });
    // P = 0.0218 + 0.5 z + 1.5957 z^2 + 1.1915 z^3, Q = 1 + 0 z + 2.383 z^2 (the authors' 4 x 2 matrix)
    expect(Array.from(RATIONAL_RELU_INIT.a)).toEqual([0.0218, 0.5, 1.5957, 1.1915]);
    expect(Array.from(RATIONAL_RELU_INIT.b)).toEqual([1.0, 0.0, 2.383]);
    for (let l = 0; l < 4; l++) {
      expect(Array.from(net.params[`r${l}_a`].dataSync())).toEqual(Array.from(Float32Array.from(RATIONAL_RELU_INIT.a)));
      expect(Array.from(net.params[`r${l}_b`].dataSync())).toEqual(Array.from(Float32Array.from(RATIONAL_RELU_INIT.b)));
    }
    const z = [-1, -0.5, 0, 0.5, 1];
    const r = tf.tidy(() => data(rational(tf.tensor1d(z), net.params.r0_a, net.params.r0_b)));
    // the best approximation's error on [-1, 1] is 0.0218 (at 0 and the ends)
    z.forEach((x, i) => expect(Math.abs(r[i] - Math.max(x, 0))).toBeLessThan(0.025));
    // nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases
    const v = data(net.params.fc1_w); // 2,500 draws, bound 1/sqrt(50)
    const bound = 1 / Math.sqrt(50);
    const maxAbs = v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    expect(maxAbs).toBeLessThanOrEqual(bound);
    expect(maxAbs).toBeGreaterThan(0.99 * bound);
    const std = Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
    expect(Math.abs(std / (bound / Math.sqrt(3)) - 1)).toBeLessThan(0.05);
    const b0 = data(net.params.fc0_b);
    expect(b0.every((x) => Math.abs(x) <= 0.5)).toBe(true); // fan_in 4
    expect(Math.max(...b0.map(Math.abs))).toBeGreaterThan(0.3);
    const again = greenLearning({ resolution: 3, seed: 2 });
    const other = greenLearning({ resolution: 3, seed: 3 });
    expect(Array.from(again.params.fc2_w.dataSync())).toEqual(Array.from(net.params.fc2_w.dataSync()));
    expect(Array.from(other.params.fc2_w.dataSync())).not.toEqual(Array.from(net.params.fc2_w.dataSync()));
    for (const x of [net, again, other]) x.dispose();
  });

  /**
   * Identity activations and weights that carry one unit through make the network the affine
   * kernel G(y1, y2, x1, x2) = y1 + 2 x2 + 0.25: the prediction must be the Riemann sum
   * u(x_kl) = sum_ij f_ij G(t_i, t_j, t_k, t_l) / s^2 (with 'xy', y1 is t_j).
   */
  for (const indexing of ['ij', 'xy'] as const) {
    it(`with a known kernel computes the quadrature (f . G) / s^2, G[p = source, q = output] (indexing '${indexing}')`, () => {
      const s = 4; const w = 3; const n = s * s;
      const net = greenLearning({ resolution: s, width: w, depth: 2, indexing });
      const P: Record<string, tf.Tensor> = {};
      const mat = (rows: number, cols: number, set: [number, number, number][]) => {
        const a = new Float32Array(rows * cols);
        for (const [i, j, v] of set) a[i * cols + j] = v;
        return tf.tensor2d(a, [rows, cols]);
      };
      P.fc0_w = mat(4, w, [[0, 0, 1], [3, 0, 2]]);
      P.fc0_b = tf.zeros([w]);
      P.fc1_w = mat(w, w, [[0, 0, 1]]);
      P.fc1_b = tf.zeros([w]);
      P.fc2_w = mat(w, 1, [[0, 0, 1]]);
      P.fc2_b = tf.tensor1d([0.25]);
      for (const l of [0, 1]) { P[`r${l}_a`] = tf.tensor1d([0, 1, 0, 0]); P[`r${l}_b`] = tf.tensor1d([1, 0, 0]); }
      const t = (i: number) => i / (s - 1);
      const f = Float64Array.from({ length: 2 * n }, (_, k) => Math.sin(1.3 * k) + (k % 5) * 0.2);
      const y = tf.tidy(() => data(net.apply(P, tf.tensor2d(Float32Array.from(f), [2, n]))));
      const g = net.kernel(P);
      const G = data(g);
      g.dispose();
      let err = 0;
      for (let p = 0; p < n; p++) {
        for (let q = 0; q < n; q++) {
          const [i, j, l] = [Math.floor(p / s), p % s, q % s];
          const want = (indexing === 'ij' ? t(i) : t(j)) + 2 * t(l) + 0.25;
          err = Math.max(err, Math.abs(G[p * n + q] - want));
        }
      }
      expect(err).toBeLessThan(1e-6);
      for (let b = 0; b < 2; b++) {
        for (let q = 0; q < n; q++) {
          let sum = 0;
          for (let p = 0; p < n; p++) {
            const [i, j, l] = [Math.floor(p / s), p % s, q % s];
            sum += f[b * n + p] * ((indexing === 'ij' ? t(i) : t(j)) + 2 * t(l) + 0.25);
          }
          expect(Math.abs(y[b * n + q] - sum / n)).toBeLessThan(1e-5);
        }
      }
      // f = 1: the integral of G over the source square, by the rectangle rule on s^2 points.
      const ones = tf.tidy(() => data(net.apply(P, tf.ones([1, n]))));
      for (let q = 0; q < n; q++) expect(ones[q]).toBeCloseTo(0.5 + 2 * t(q % s) + 0.25, 5);
      tf.dispose(Object.values(P));
      net.dispose();
    });
  }

  it('refuses bad options by name', () => {
    expect(() => greenLearning(null as never)).toThrow(/petscml: greenLearning: expected an options object with a resolution/);
    expect(() => greenLearning({ resolution: 1 })).toThrow(/petscml: greenLearning: resolution must be an integer >= 2, got 1/);
    expect(() => greenLearning({ resolution: 4, width: 0 })).toThrow(/width must be an integer >= 1, got 0/);
    expect(() => greenLearning({ resolution: 4, depth: 2.5 })).toThrow(/depth must be an integer >= 1, got 2.5/);
    expect(() => greenLearning({ resolution: 4, indexing: 'yx' as never })).toThrow(/indexing must be 'ij' or 'xy', got 'yx'/);
  });

  it('dispose frees every tensor it made', () => {
    const before = tf.memory().numTensors;
    const net = greenLearning({ resolution: 3, width: 4, depth: 2 });
    tf.tidy(() => { net.apply(net.params, tf.ones([2, 9])); });
    net.kernel().dispose();
    net.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
