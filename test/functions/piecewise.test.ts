/**
 * Piecewise models: masks on the path (where(x > 0, ...): comparisons have no gradient in tfjs, so
 * every gradient through one threw), and the piecewise-linear ops whose gradient tfjs cannot
 * differentiate again (LeakyRelu, Relu6, Minimum), which exact Hessian products take through a
 * linearization. References independent of the code under test: closed-form gradients, and in
 * float64 central differences of the gradient (exact Hv) and of the model's output (J v, for
 * Gauss-Newton, with J^T from tfjs's reverse mode).
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { createTfjsFunction, exactScalar, exactTensor, initBackend, withExactSecondOrder, type TfjsFunction } from '../../src/functions';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32 * 2 - 1; };
}
const relNorm = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let e = 0, m = 0;
  for (let i = 0; i < b.length; i++) { e = Math.max(e, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
  return e / m;
};

afterAll(async () => { await initBackend({ backend: 'petscml', quiet: true }); });

describe('masks on the path have a zero derivative (as TensorFlow says), not a thrown gradient', () => {
  for (const backend of ['petscml', 'cpu', 'petscml-float64'] as const) {
    it(`${backend}: the gradient of where(x > 0, x^2, -3x) + (x >= 1) minimum(x, 1.5) is the closed form`, async () => {
      await initBackend({ backend, quiet: true });
      const r = rng(5);
      const xs = Array.from({ length: 40 }, () => 2 * r());
      const x = backend === 'petscml-float64' ? exactTensor(xs, [40]) : tf.tensor(xs, [40]);
      const f = (t: tf.Tensor) => tf.sum(tf.add(tf.where(tf.greater(t, 0), tf.square(t), tf.mul(t, -3)),
        tf.mul(tf.cast(tf.greaterEqual(t, 1), 'float32'), tf.minimum(t, 1.5))));
      const g = tf.grad(f)(x).dataSync();
      const want = xs.map((v) => (v > 0 ? 2 * v : -3) + (v >= 1 && v < 1.5 ? 1 : 0));
      expect(relNorm(g, want)).toBeLessThan(backend === 'petscml-float64' ? 1e-15 : 1e-6);
      // The comparisons' own gradients are zeros of their inputs' shapes (broadcast included).
      const [ga, gb] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.cast(tf.less(a, b), 'float32')))([x, tf.scalar(0.5)]);
      expect(ga.shape).toEqual([40]);
      expect(gb.shape).toEqual([]);
      expect(Math.max(...ga.dataSync(), ...gb.dataSync())).toBe(0);
    });
  }
});

describe('exact and Gauss-Newton products on a linearization through masks, LeakyRelu, Relu6, Minimum and gathers (float64, against central differences)', () => {
  const N = 16;
  type Case = { din: number; dout: number; params: Record<string, number[]>; apply: (p: Record<string, tf.Tensor>, x: tf.Tensor) => tf.Tensor };
  const cases: Record<string, Case> = {
    'where(z > 0, tanh z, z^2) + leakyRelu': {
      din: 5, dout: 3, params: { w: [5, 6], w2: [6, 3] },
      apply: (p, x) => { const z = tf.matMul(x, p.w); return tf.matMul(tf.add(tf.where(tf.greater(z, 0), tf.tanh(z), tf.square(z)), tf.leakyRelu(z, 0.1)), p.w2); },
    },
    'relu6 and a clamp by minimum of a smooth layer': {
      din: 5, dout: 4, params: { w: [5, 4], w2: [4, 4] },
      apply: (p, x) => { const z = tf.matMul(x, p.w); return tf.add(tf.matMul(tf.relu6(tf.mul(z, 4)), p.w2), tf.minimum(tf.exp(z), exactScalar(1.5))); },
    },
    'gather (its gradient a segment sum), concat, reverse, slice and tile': {
      din: 5, dout: 3, params: { w: [5, 4], w2: [8, 3] },
      apply: (p, x) => {
        const z = tf.matMul(x, p.w);
        const c = tf.gather(tf.concat([tf.sin(z), tf.reverse(z, 1)], 1), tf.tensor1d([1, 0, 3, 2, 5, 4, 7, 7], 'int32'), 1);
        return tf.matMul(tf.tile(tf.slice(c, [0, 0], [-1, 8]), [1, 1]), p.w2);
      },
    },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(name, async () => {
      await initBackend({ backend: 'petscml-float64', quiet: true });
      const r = rng(9);
      const shaped = (s: number[], scale: number) => exactTensor(Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => scale * r()), s);
      const params = Object.fromEntries(Object.entries(c.params).map(([k, s]) => [k, shaped(s, 0.7)]));
      const x = shaped([N, c.din], 1), y = shaped([N, c.dout], 0.5);
      const fn: TfjsFunction = await createTfjsFunction({ quiet: true, model: { params, apply: c.apply }, loss: 'mse', data: { x, y } });
      const n = fn.size, w0 = fn.initialParameters(), v = Float64Array.from({ length: n }, r);
      const at = (k: number) => w0.map((a, i) => a + k * v[i]);
      const h = 1e-6;

      const hv = new Float64Array(n);
      const H = fn.hessian('exact'); H.setPoint(w0); H.apply(v, hv);
      const gp = new Float64Array(n), gm = new Float64Array(n);
      fn.objectiveAndGradient(at(h), gp); fn.objectiveAndGradient(at(-h), gm);
      expect(relNorm(hv, gp.map((a, i) => (a - gm[i]) / (2 * h)))).toBeLessThan(1e-7);

      const gv = new Float64Array(n);
      const G = fn.hessian('gauss-newton'); G.setPoint(w0); G.apply(v, gv);
      // (2 / numel) J^T (J v): J v by central differences of the output, J^T by tfjs's reverse mode.
      const keys = Object.keys(c.params);
      const fold = (w: Float64Array) => {
        let o = 0;
        return keys.map((k) => { const s = c.params[k], m = s.reduce((a, b) => a * b, 1); const t = exactTensor(w.subarray(o, o + m), s); o += m; return t; });
      };
      const out = (w: Float64Array) => { const ps = fold(w); return c.apply(Object.fromEntries(keys.map((k, i) => [k, ps[i]])), x); };
      const jv = tf.div(tf.sub(out(at(h)), out(at(-h))), exactScalar(2 * h));
      const grads = tf.grads((...ps: tf.Tensor[]) => tf.sum(tf.mul(c.apply(Object.fromEntries(keys.map((k, i) => [k, ps[i]])), x), jv)))(fold(w0));
      const ref = Float64Array.from(grads.flatMap((g) => Array.from(g.dataSync(), (e) => (2 * e) / jv.size)));
      expect(relNorm(gv, ref)).toBeLessThan(1e-7);

      expect(fn.linearizationReport()).toEqual({ model: 'linearized', loss: 'linearized', exact: 'linearized', reasons: [] });
      fn.dispose();
    });
  }

  it('reverse over reverse (the fallback when a model cannot be linearized) still refuses them', async () => {
    await initBackend({ backend: 'petscml-float64', quiet: true });
    const x = exactTensor([0.5, -0.5, 2], [3]);
    for (const [op, f] of [['LeakyRelu', (t: tf.Tensor) => tf.leakyRelu(t, 0.1)], ['Relu6', tf.relu6], ['Minimum', (t: tf.Tensor) => tf.minimum(t, 1)]] as const) {
      expect(() => withExactSecondOrder(() => tf.grad((t: tf.Tensor) => tf.sum(tf.square(f(t))))(x)), op).toThrow(new RegExp(`second derivative of tfjs op '${op}'`));
    }
  });
});
