/**
 * linearize(): every forward-mode rule against tfjs's own reverse mode, and the machinery around
 * the rules (what it refuses, what it keeps, what the function layer does with it).
 *
 * The reference for J v is the double vjp J v = d/du <J^T u, v> (tfjs's gradients, which share
 * nothing with the rules in linearize.ts); for J^T u, tf.grads. Both in float32 on the petscml
 * backend: TOL = 1e-5 is ~170 float32 roundings, far below the O(1) error of a wrong rule (a
 * dropped term, a wrong sign or mask). The derivative suite (derivatives.shared.ts) checks the
 * Hessian products built on top against a float64 reference on every backend.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import {
  createTfjsFunction, initBackend, linearize, LinearizationUnsupportedError, LINEARIZED_KERNELS,
  stockGradientConfig, installedGradientConfig, withExactSecondOrder,
} from '../../src/functions';

const TOL = 1e-5;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32 * 2 - 1; };
}

function rand(shape: number[], r: () => number, scale = 1, shift = 0): tf.Tensor {
  return tf.tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => shift + scale * r()), shape);
}

function relErr(a: tf.Tensor[], b: tf.Tensor[]): number {
  let num = 0; let den = 0;
  a.forEach((t, i) => {
    const x = t.dataSync(); const y = b[i].dataSync();
    expect(t.shape).toEqual(b[i].shape);
    for (let k = 0; k < y.length; k++) { num += (x[k] - y[k]) ** 2; den += y[k] ** 2; }
  });
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

type Fn = (xs: readonly tf.Tensor[]) => tf.Tensor | tf.Tensor[];

/** Reference J v (double vjp) and J^T u (tf.grads) for a function of several tensors. */
function reference(f: Fn, xs: tf.Tensor[], v: tf.Tensor[], u: tf.Tensor[]): { jv: tf.Tensor[]; jtu: tf.Tensor[] } {
  const asList = (r: tf.Tensor | tf.Tensor[]) => (Array.isArray(r) ? r : [r]);
  const inner = (us: tf.Tensor[]) => tf.grads((...p: tf.Tensor[]) => {
    const out = asList(f(p));
    return tf.addN(out.map((o, i) => tf.sum(tf.mul(o, us[i])))) as tf.Scalar;
  })(xs);
  const jtu = inner(u);
  const outs = asList(f(xs));
  const jv = outs.map((o, i) => tf.grad((ui: tf.Tensor) => {
    const us = outs.map((oo, k) => (k === i ? ui : tf.zerosLike(oo)));
    return tf.addN(inner(us).map((g, k) => tf.sum(tf.mul(g, v[k])))) as tf.Scalar;
  })(tf.zerosLike(o)));
  return { jv, jtu };
}

interface RuleCase { kernel: string; shapes: number[][]; f: Fn; scale?: number; shift?: number }

const A = [3, 4];
// Each case runs `kernel` on tensors that depend on its arguments (most cases pass through a
// nonlinearity first, so that the rule's use of primal values is exercised).
const CASES: RuleCase[] = [
  ...['tanh', 'sigmoid', 'exp', 'expm1', 'sin', 'cos', 'sinh', 'cosh', 'softplus', 'erf', 'neg', 'square', 'abs', 'relu', 'elu', 'step', 'sign', 'floor', 'ceil', 'round']
    .map((op) => ({
      kernel: op === 'neg' ? 'Neg' : op[0].toUpperCase() + op.slice(1),
      shapes: [A],
      f: ([a]: readonly tf.Tensor[]) => tf.mul((tf as unknown as Record<string, (x: tf.Tensor) => tf.Tensor>)[op](tf.mul(a, 2)), a),
    })),
  { kernel: 'Log', shapes: [A], f: ([a]) => tf.log(tf.add(tf.square(a), 0.5)) },
  { kernel: 'Log1p', shapes: [A], f: ([a]) => tf.log1p(tf.square(a)) },
  { kernel: 'Sqrt', shapes: [A], f: ([a]) => tf.sqrt(tf.add(tf.square(a), 0.5)) },
  { kernel: 'Rsqrt', shapes: [A], f: ([a]) => tf.rsqrt(tf.add(tf.square(a), 0.5)) },
  { kernel: 'Reciprocal', shapes: [A], f: ([a]) => tf.reciprocal(tf.add(tf.square(a), 0.5)) },
  { kernel: 'Relu6', shapes: [A], f: ([a]) => tf.relu6(tf.mul(a, 8)) },
  { kernel: 'LeakyRelu', shapes: [A], f: ([a]) => tf.leakyRelu(tf.mul(a, 3), 0.3) },
  { kernel: 'Identity', shapes: [A], f: ([a]) => tf.mul(tf.clone(tf.tanh(a)), a) },
  { kernel: 'Cast', shapes: [A], f: ([a]) => tf.mul(tf.cast(tf.tanh(a), 'float32'), a) },
  { kernel: 'Reshape', shapes: [A], f: ([a]) => tf.tanh(tf.reshape(tf.sin(a), [2, 6])) },
  { kernel: 'ExpandDims', shapes: [A], f: ([a]) => tf.tanh(tf.expandDims(tf.sin(a), 1)) },
  { kernel: 'Transpose', shapes: [[2, 3, 4]], f: ([a]) => tf.tanh(tf.transpose(tf.sin(a), [2, 0, 1])) },
  { kernel: 'Slice', shapes: [A], f: ([a]) => tf.tanh(tf.slice(tf.sin(a), [1, 1], [2, 2])) },
  { kernel: 'PadV2', shapes: [A], f: ([a]) => tf.tanh(tf.pad(tf.sin(a), [[1, 0], [2, 1]], 0.5)) },
  { kernel: 'Tile', shapes: [A], f: ([a]) => tf.tanh(tf.tile(tf.sin(a), [2, 3])) },
  { kernel: 'Reverse', shapes: [A], f: ([a]) => tf.tanh(tf.reverse(tf.sin(a), [1])) },
  { kernel: 'GatherV2', shapes: [[5, 3]], f: ([a]) => tf.tanh(tf.gather(tf.sin(a), tf.tensor1d([4, 0, 0, 2], 'int32'), 0)) },
  { kernel: 'Tan', shapes: [A], scale: 0.6, f: ([a]) => tf.tan(a) },
  { kernel: 'Atan', shapes: [A], scale: 2, f: ([a]) => tf.atan(tf.mul(a, a)) },
  { kernel: 'Asin', shapes: [A], scale: 0.8, f: ([a]) => tf.asin(a) },
  { kernel: 'Acos', shapes: [A], scale: 0.8, f: ([a]) => tf.acos(a) },
  { kernel: 'Asinh', shapes: [A], scale: 2, f: ([a]) => tf.asinh(a) },
  { kernel: 'Acosh', shapes: [A], shift: 2, scale: 0.5, f: ([a]) => tf.acosh(a) },
  { kernel: 'Atanh', shapes: [A], scale: 0.8, f: ([a]) => tf.atanh(a) },
  { kernel: 'Max', shapes: [[3, 4, 5]], f: ([a]) => tf.add(tf.max(tf.sin(a), 2), tf.max(a, [0, 2], true).sum()) },
  { kernel: 'Min', shapes: [[3, 4, 5]], f: ([a]) => tf.min(tf.mul(a, tf.cos(a)), 1) },
  { kernel: 'UnsortedSegmentSum', shapes: [[5, 3]], f: ([a]) => tf.tanh(tf.unsortedSegmentSum(tf.sin(a), tf.tensor1d([1, 0, 1, 2, 0], 'int32'), 3)) },
  { kernel: 'Sum', shapes: [[2, 3, 4]], f: ([a]) => tf.tanh(tf.sum(tf.sin(a), [0, 2], true)) },
  { kernel: 'Mean', shapes: [[2, 3, 4]], f: ([a]) => tf.tanh(tf.mean(tf.sin(a), 1)) },
  { kernel: 'Concat', shapes: [A, [3, 2]], f: ([a, b]) => tf.tanh(tf.concat([tf.sin(a), tf.ones([3, 1]), b], 1)) },
  { kernel: 'Pack', shapes: [A, A], f: ([a, b]) => tf.tanh(tf.stack([tf.sin(a), tf.ones(A), b], 1)) },
  { kernel: 'Unpack', shapes: [A], f: ([a]) => tf.unstack(tf.sin(a), 1).map((t, i) => tf.mul(t, i + 1)) },
  { kernel: 'SplitV', shapes: [[3, 6]], f: ([a]) => tf.split(tf.sin(a), [1, 2, 3], 1).map((t) => tf.tanh(t)) },
  { kernel: 'AddN', shapes: [A, A], f: ([a, b]) => tf.tanh(tf.addN([tf.sin(a), b, tf.ones(A), a])) },
  { kernel: 'Add', shapes: [A, [4]], f: ([a, b]) => tf.add(tf.add(tf.sin(a), b), tf.add(tf.ones(A), b)) },
  { kernel: 'Sub', shapes: [A, [3, 1]], f: ([a, b]) => tf.add(tf.sub(tf.sin(a), b), tf.sub(b, tf.ones(A))) },
  { kernel: 'Multiply', shapes: [A, [4]], f: ([a, b]) => tf.add(tf.mul(tf.sin(a), b), tf.mul(tf.ones(A), b)) },
  { kernel: 'RealDiv', shapes: [A, [4]], f: ([a, b]) => tf.add(tf.div(tf.sin(a), tf.add(tf.square(b), 1)), tf.div(2, tf.add(tf.square(a), 1))) },
  // Same shapes: tfjs's own SquaredDifference gradient does not undo broadcasting.
  { kernel: 'SquaredDifference', shapes: [A, A], f: ([a, b]) => tf.squaredDifference(tf.sin(a), b) },
  { kernel: 'Maximum', shapes: [A, A], f: ([a, b]) => tf.add(tf.maximum(a, b), tf.maximum(a, 0.1)) },
  { kernel: 'Minimum', shapes: [A, A], f: ([a, b]) => tf.add(tf.minimum(a, b), tf.minimum(0.1, b)) },
  { kernel: 'Pow', shapes: [A, A], shift: 1.5, scale: 0.5, f: ([a, b]) => tf.add(tf.pow(a, b), tf.pow(a, 3)) },
  { kernel: 'Select', shapes: [A, A], f: ([a, b]) => tf.where(tf.tensor2d([[1, 0, 1, 0], [0, 0, 1, 1], [1, 1, 0, 0]], A as [number, number], 'bool'), tf.sin(a), tf.mul(b, 3)) },
  // A condition from the arguments: Greater's gradient is zero (gradients.ts NOT_DIFFERENTIABLE).
  { kernel: 'Select', shapes: [A, A], f: ([a, b]) => tf.where(tf.greater(a, b), tf.sin(a), tf.mul(b, 3)) },
  { kernel: 'BatchMatMul', shapes: [[2, 3, 4], [4, 5]], f: ([a, b]) => tf.tanh(tf.matMul(tf.sin(a), b)) },
  { kernel: 'BatchMatMul', shapes: [[2, 4, 3], [5, 4]], f: ([a, b]) => tf.matMul(a, tf.sin(b), true, true) },
  { kernel: 'BatchMatMul', shapes: [[3, 4], [3, 5]], f: ([a, b]) => tf.matMul(tf.sin(a), b, true, false) },
  { kernel: 'BatchMatMul', shapes: [[3, 4], [5, 4]], f: ([a, b]) => tf.matMul(tf.sin(a), b, false, true) },
  { kernel: 'Softmax', shapes: [A], f: ([a]) => tf.mul(tf.softmax(tf.mul(a, 2)), a) },
  { kernel: 'ZerosLike', shapes: [A], f: ([a]) => tf.add(tf.zerosLike(a), tf.sin(a)) },
  { kernel: 'OnesLike', shapes: [A], f: ([a]) => tf.mul(tf.onesLike(a), tf.sin(a)) },
];

/**
 * Kernels that are linear in each argument (convolutions, pooling by averages, cumulative sums).
 * tfjs cannot differentiate some of their gradients again (Conv2DBackpropFilter, AvgPoolGrad),
 * so the double vjp is no reference; for f bilinear or linear, the central difference
 * (f(x + v) - f(x - v)) / 2 is J v exactly (the second-order terms cancel), up to rounding.
 */
const LINEAR_CASES: RuleCase[] = [
  { kernel: 'Conv2D', shapes: [[2, 5, 6, 3], [3, 3, 3, 4]], f: ([x, w]) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, [1, 2], 'same') },
  { kernel: 'Conv2D', shapes: [[2, 7, 3], [2, 3, 5]], f: ([x, w]) => tf.conv1d(x as tf.Tensor3D, w as tf.Tensor3D, 2, 'valid') },
  { kernel: 'DepthwiseConv2dNative', shapes: [[2, 5, 5, 3], [2, 2, 3, 2]], f: ([x, w]) => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid') },
  { kernel: 'Conv3D', shapes: [[1, 4, 4, 4, 2], [2, 2, 2, 2, 3]], f: ([x, w]) => tf.conv3d(x as tf.Tensor5D, w as tf.Tensor5D, 1, 'same') },
  { kernel: 'AvgPool', shapes: [[2, 6, 6, 3]], f: ([x]) => tf.avgPool(x as tf.Tensor4D, 2, 2, 'valid') },
  { kernel: 'Cumsum', shapes: [[3, 5]], f: ([x]) => tf.cumsum(x, 1, true, true) },
];

beforeAll(async () => { await initBackend({ backend: 'petscml', quiet: true }); });

describe('forward-mode rules of linear and bilinear kernels against the exact central difference', () => {
  LINEAR_CASES.forEach((c, i) => {
    it(`${c.kernel} (${c.shapes.map((s) => `[${s}]`).join(', ')})`, () => {
      const r = rng(300 + i);
      const before = tf.memory().numTensors;
      const xs = c.shapes.map((s) => rand(s, r));
      const v = c.shapes.map((s) => rand(s, r));
      const lin = linearize(c.f, xs);
      try {
        expect(lin.kernels).toContain(c.kernel);
        const [jv] = tf.tidy(() => lin.jvp(v));
        const asT = (o: tf.Tensor | tf.Tensor[]) => (Array.isArray(o) ? o[0] : o);
        const ref = tf.tidy(() => tf.div(tf.sub(asT(c.f(xs.map((x, k) => tf.add(x, v[k])))), asT(c.f(xs.map((x, k) => tf.sub(x, v[k]))))), 2));
        expect(relErr([jv], [ref])).toBeLessThan(TOL);
        // J^T u from tfjs's gradients is its adjoint: <J v, u> = <v, J^T u>.
        const u = rand(jv.shape, r);
        const jtu = tf.tidy(() => lin.vjp([u]));
        const [left, right] = tf.tidy(() => [tf.sum(tf.mul(jv, u)).dataSync()[0], jtu.reduce((acc, g, k) => acc + tf.sum(tf.mul(g, v[k])).dataSync()[0], 0)]);
        expect(Math.abs(left - right)).toBeLessThan(TOL * Math.max(1, Math.abs(left)));
        tf.dispose([jv, ref, u, ...jtu]);
      } finally {
        lin.dispose();
        tf.dispose([...xs, ...v]);
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});

describe('forward-mode rules against tfjs reverse mode', () => {
  it('every rule has a case here', () => {
    const covered = new Set([...CASES, ...LINEAR_CASES].map((c) => c.kernel));
    expect(LINEARIZED_KERNELS.filter((k) => !covered.has(k))).toEqual([]);
  });

  CASES.forEach((c, i) => {
    it(`${c.kernel} (${c.shapes.map((s) => `[${s}]`).join(', ')})`, () => {
      const r = rng(100 + i);
      const before = tf.memory().numTensors;
      const xs = c.shapes.map((s) => rand(s, r, c.scale ?? 1, c.shift ?? 0));
      const v = c.shapes.map((s) => rand(s, r));
      const lin = linearize(c.f, xs);
      try {
        expect(lin.kernels).toContain(c.kernel);
        const u = lin.outputs.map((o) => rand(o.shape, r));
        const ref = tf.tidy(() => { const { jv, jtu } = reference(c.f, xs, v, u); return [...jv, ...jtu]; });
        const [jv, jtu] = tf.tidy(() => [lin.jvp(v), lin.vjp(u)]);
        const n = lin.outputs.length;
        expect(relErr(jv, ref.slice(0, n))).toBeLessThan(TOL);
        expect(relErr(jtu, ref.slice(n))).toBeLessThan(TOL);
        // The outputs are f at the point.
        const f0 = tf.tidy(() => { const out = c.f(xs); return Array.isArray(out) ? out : [out]; });
        expect(relErr([...lin.outputs], f0)).toBe(0);
        tf.dispose([...ref, ...jv, ...jtu, ...u, ...f0]);
      } finally {
        lin.dispose();
        tf.dispose([...xs, ...v]);
      }
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});

describe('linearize', () => {
  it('J v and J^T u are adjoint on a composite (MLP layer pair)', () => {
    const r = rng(7);
    const xs = [rand([6, 5], r), rand([5], r), rand([5, 3], r)];
    const x = rand([10, 6], r);
    const f: Fn = ([w1, b1, w2]) => tf.matMul(tf.tanh(tf.add(tf.matMul(x, w1), b1)), w2);
    const lin = linearize(f, xs);
    const v = xs.map((t) => rand(t.shape, r));
    const u = [rand([10, 3], r)];
    const [lhs, rhs] = tf.tidy(() => {
      const jv = lin.jvp(v)[0];
      const jtu = lin.vjp(u);
      return [tf.sum(tf.mul(jv, u[0])), tf.addN(jtu.map((g, i) => tf.sum(tf.mul(g, v[i]))))];
    });
    expect(Math.abs(lhs.dataSync()[0] - rhs.dataSync()[0])).toBeLessThan(1e-5 * Math.abs(rhs.dataSync()[0]));
    lin.dispose();
    tf.dispose([...xs, x, ...v, ...u, lhs, rhs]);
  });

  it('a kernel without a rule is refused by name, and nothing recorded is kept', () => {
    const a = tf.tensor([[1, 2], [3, 4]]);
    const before = tf.memory().numTensors;
    let err: unknown;
    try { linearize(([t]) => tf.tanh(tf.prod(tf.sin(t), 1)), [a]); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(LinearizationUnsupportedError);
    expect((err as LinearizationUnsupportedError).kernel).toBe('Prod');
    expect((err as Error).message).toMatch(/no forward-mode rule for the tfjs kernel 'Prod'/);
    expect(tf.memory().numTensors).toBe(before);
    // customGrad ops are one node named after the op: refused the same way.
    expect(() => linearize(([t]) => tf.logSoftmax(t), [a])).toThrow(/logSoftmax/);
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
  });

  it('an error in the function passes through, and nothing recorded is kept', () => {
    const a = tf.tensor([[1, 2], [3, 4]]);
    const before = tf.memory().numTensors;
    expect(() => linearize(([t]) => { tf.sin(t); throw new Error('model failed'); }, [a])).toThrow('model failed');
    expect(() => linearize(([t]) => tf.matMul(tf.sin(t), tf.ones([3, 3])), [a])).toThrow();
    expect(tf.memory().numTensors).toBe(before);
    // The engine is left as it was: ordinary gradients still work.
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(t)))(a);
    expect(Array.from(g.dataSync())).toEqual([2, 4, 6, 8]);
    g.dispose(); a.dispose();
  });

  it('returning an argument itself is refused (nothing to record, and not ours to keep)', () => {
    const a = tf.tensor([1, 2]);
    expect(() => linearize(([t]) => t, [a])).toThrow(LinearizationUnsupportedError);
    expect(a.isDisposed).toBe(false);
    expect(Array.from(a.dataSync())).toEqual([1, 2]);
    a.dispose();
  });

  it('a gradient that reads a saved output is refused (tfjs records that copy out of order)', () => {
    const a = tf.tensor([[0.1, -0.4], [0.3, 0.2]]);
    const fixed = installedGradientConfig('Tanh')!;
    tf.registerGradient(stockGradientConfig('Tanh')!);
    try {
      expect(() => linearize(([t]) => tf.grad((s: tf.Tensor) => tf.sum(tf.tanh(s)))(t), [a])).toThrow(/made after it/);
    } finally {
      tf.registerGradient(fixed);
    }
    // With petscml's Tanh gradient (from the input), the gradient linearizes: H v of sum(tanh).
    const lin = withExactSecondOrder(() => linearize(([t]) => tf.grad((s: tf.Tensor) => tf.sum(tf.tanh(s)))(t), [a]));
    const v = tf.tensor([[1, 2], [3, 4]]);
    const hv = tf.tidy(() => lin.jvp([v])[0]);
    const want = tf.tidy(() => { const y = tf.tanh(a); return tf.mul(tf.mul(tf.mul(y, tf.sub(1, tf.square(y))), -2), v); });
    expect(relErr([hv], [want])).toBeLessThan(TOL);
    lin.dispose(); tf.dispose([a, v, hv, want]);
  });

  it('keeps its values after the arguments change (a LayersModel assigns its variables in place)', () => {
    const w = tf.variable(tf.tensor([[0.5, -1], [2, 0.25]]));
    const x = tf.tensor([[1, 2], [3, -1]]);
    const lin = linearize(() => tf.tanh(tf.matMul(x, w)), [w]);
    const v = [tf.tensor([[1, 0], [0, 1]])];
    const before = tf.tidy(() => lin.jvp(v)[0]);
    w.assign(tf.tensor([[3, 3], [3, 3]]));
    const after = tf.tidy(() => lin.jvp(v)[0]);
    expect(Array.from(after.dataSync())).toEqual(Array.from(before.dataSync()));
    lin.dispose();
    expect(() => lin.jvp(v)).toThrow(/disposed/);
    tf.dispose([w, x, ...v, before, after]);
  });

  it('is refused inside a gradient recording', () => {
    const a = tf.tensor([1, 2]);
    expect(() => tf.grad((t: tf.Tensor) => {
      linearize(([s]) => tf.sin(s), [t]);
      return tf.sum(t);
    })(a)).toThrow(/while a gradient is being recorded/);
    a.dispose();
  });
});

describe('Gauss-Newton products of convolution and pooling models (tfjs cannot differentiate their vjps again)', () => {
  const N = 6;
  // Bilinear in (k, w2): the central difference of the output is J v exactly, and J^T comes from
  // tfjs's first-order gradients, so (2 / numel) J^T (J v) is an independent reference.
  const models: Record<string, { params: Record<string, number[]>; apply: (p: Record<string, tf.Tensor>, x: tf.Tensor) => tf.Tensor }> = {
    conv1d: { params: { k: [3, 1, 2], w2: [10, 3] }, apply: (p, x) => tf.matMul(tf.reshape(tf.conv1d(tf.reshape(x, [N, 5, 1]) as tf.Tensor3D, p.k as tf.Tensor3D, 1, 'same'), [N, 10]), p.w2) },
    'conv2d + avgPool': {
      params: { k: [2, 2, 1, 2], w2: [8, 3] },
      apply: (p, x) => tf.matMul(tf.reshape(tf.avgPool(tf.conv2d(tf.reshape(x, [N, 4, 4, 1]) as tf.Tensor4D, p.k as tf.Tensor4D, 1, 'same'), 2, 2, 'valid'), [N, 8]), p.w2),
    },
  };
  for (const [name, m] of Object.entries(models)) {
    it(`${name}: on the linearization, equal to (2 / numel) J^T J v`, async () => {
      const r = rng(21);
      const params = Object.fromEntries(Object.entries(m.params).map(([k, s]) => [k, rand(s, r, 0.5)]));
      const inDim = name === 'conv1d' ? 5 : 16;
      const x = rand([N, inDim], r), y = rand([N, 3], r);
      const fn = await createTfjsFunction({ quiet: true, model: { params, apply: m.apply }, loss: 'mse', data: { x, y } });
      const w0 = fn.initialParameters(), v = Float64Array.from({ length: fn.size }, r), gv = new Float64Array(fn.size);
      const G = fn.hessian('gauss-newton'); G.setPoint(w0); G.apply(v, gv);
      expect(fn.linearizationReport().model).toBe('linearized');
      const keys = Object.keys(m.params);
      const fold = (w: Float64Array) => { let o = 0; return keys.map((k) => { const s = m.params[k], n = s.reduce((a, b) => a * b, 1); const t = tf.tensor(Float32Array.from(w.subarray(o, o + n)), s); o += n; return t; }); };
      const apply = (ps: tf.Tensor[]) => m.apply(Object.fromEntries(keys.map((k, i) => [k, ps[i]])), x);
      const ref = tf.tidy(() => {
        const jv = tf.div(tf.sub(apply(fold(w0.map((a, i) => a + v[i]))), apply(fold(w0.map((a, i) => a - v[i])))), 2);
        const g = tf.grads((...ps: tf.Tensor[]) => tf.sum(tf.mul(apply(ps), jv)))(fold(w0));
        return Float64Array.from(g.flatMap((t) => Array.from(t.dataSync(), (e) => (2 * e) / jv.size)));
      });
      let num = 0, den = 0;
      for (let i = 0; i < ref.length; i++) { num += (gv[i] - ref[i]) ** 2; den += ref[i] ** 2; }
      expect(Math.sqrt(num / den)).toBeLessThan(1e-5);
      fn.dispose();
    });
  }

  it('a model that is neither linearized nor twice differentiable by tfjs (maxPool) is refused with a Gauss-Newton error', async () => {
    const r = rng(22);
    const fn = await createTfjsFunction({
      quiet: true,
      model: { params: { w: rand([5, 16], r), w2: rand([4, 3], r) }, apply: (p, x) => tf.matMul(tf.reshape(tf.maxPool(tf.reshape(tf.matMul(x, p.w), [N, 4, 4, 1]) as tf.Tensor4D, 2, 2, 'valid'), [N, 4]), p.w2) },
      data: { x: rand([N, 5], r), y: rand([N, 3], r) },
    });
    const G = fn.hessian('gauss-newton'); G.setPoint(fn.initialParameters());
    const attempt = () => expect(() => G.apply(new Float64Array(fn.size).fill(1), new Float64Array(fn.size)))
      .toThrow(/Gauss-Newton product of this model cannot be computed: the model is not linearized \(cannot linearize: no forward-mode rule for the tfjs kernel 'MaxPool'\), and its Jacobian by the double vjp needs the derivative of tfjs op 'MaxPoolGrad'/);
    attempt();
    expect(fn.linearizationReport().model).toBe('refused');
    // What the point's products share stays (released when the point moves); nothing more per attempt.
    const before = tf.memory().numTensors;
    attempt();
    expect(tf.memory().numTensors).toBe(before);
    // The function stays usable.
    const g = new Float64Array(fn.size);
    expect(Number.isFinite(fn.objectiveAndGradient(fn.initialParameters(), g))).toBe(true);
    fn.dispose();
  });
});

describe('a product that cannot be computed is refused, named, and reported', () => {
  it("a loss whose second derivative tfjs cannot compute (a customGrad op) refuses Gauss-Newton as the loss's fault", async () => {
    const r = rng(23);
    const fn = await createTfjsFunction({
      quiet: true,
      model: { params: { w: rand([4, 3], r) }, apply: (p, x) => tf.matMul(x, p.w) },
      loss: (z, t) => tf.neg(tf.mean(tf.sum(tf.mul(t, tf.logSoftmax(z)), 1))) as tf.Scalar,
      data: { x: rand([6, 4], r), y: tf.softmax(rand([6, 3], r)) },
    });
    const G = fn.hessian('gauss-newton'); G.setPoint(fn.initialParameters());
    expect(() => G.apply(new Float64Array(fn.size).fill(1), new Float64Array(fn.size)))
      .toThrow(/Gauss-Newton product of this model cannot be computed: the loss's second derivative needs that of tfjs op 'logSoftmax'/);
    expect(fn.linearizationReport()).toMatchObject({ model: 'linearized', loss: 'refused' });
    fn.dispose();
  });

  it('an exact product through a convolution is refused and reported so; Gauss-Newton still works', async () => {
    const r = rng(24);
    const N = 4;
    const fn = await createTfjsFunction({
      quiet: true,
      model: { params: { k: rand([3, 1, 2], r), w2: rand([10, 3], r) }, apply: (p, x) => tf.matMul(tf.reshape(tf.tanh(tf.conv1d(tf.reshape(x, [N, 5, 1]) as tf.Tensor3D, p.k as tf.Tensor3D, 1, 'same')), [N, 10]), p.w2) },
      data: { x: rand([N, 5], r), y: rand([N, 3], r) },
    });
    const w = fn.initialParameters(), v = new Float64Array(fn.size).fill(1), y = new Float64Array(fn.size);
    const H = fn.hessian('exact'); H.setPoint(w);
    expect(() => H.apply(v, y)).toThrow(/second derivative of tfjs op 'Conv2D'/);
    const G = fn.hessian('gauss-newton'); G.setPoint(w); G.apply(v, y);
    expect(y.some((e) => e !== 0)).toBe(true);
    expect(fn.linearizationReport()).toMatchObject({ model: 'linearized', loss: 'linearized', exact: 'refused' });
    fn.dispose();
  });
});

describe('Hessian products of a TfjsFunction on linearizations', () => {
  const N = 12; const IN = 3; const OUT = 4;
  async function make(logits: (z: tf.Tensor) => tf.Tensor, batches = 1) {
    const r = rng(5);
    const data = Array.from({ length: batches }, () => ({
      x: { values: Float32Array.from({ length: N * IN }, r), shape: [N, IN] },
      y: { values: Float32Array.from({ length: N * OUT }, r), shape: [N, OUT] },
    }));
    return createTfjsFunction({
      quiet: true,
      model: {
        params: { w1: rand([IN, 6], r), b1: rand([6], r), w2: rand([6, OUT], r) },
        apply: (p, x) => logits(tf.matMul(tf.tanh(tf.add(tf.matMul(x, p.w1), p.b1)), p.w2)),
      },
      data: batches === 1 ? data[0] : data,
    });
  }
  const explicit = (z: tf.Tensor) => tf.sub(z, tf.log(tf.sum(tf.exp(z), 1, true)));

  it('a model with a kernel that has no rule falls back to the double vjp, with the same product', async () => {
    const a = await make((z) => tf.logSoftmax(z)); // a customGrad op: no forward-mode rule
    const b = await make(explicit);
    const w = a.initialParameters();
    const v = Float64Array.from({ length: a.size }, rng(9));
    const ya = new Float64Array(a.size); const yb = new Float64Array(b.size);
    const Ga = a.hessian('gauss-newton'); Ga.setPoint(w); Ga.apply(v, ya);
    const Gb = b.hessian('gauss-newton'); Gb.setPoint(w); Gb.apply(v, yb);
    const ra = a.linearizationReport();
    expect(ra.model).toBe('double-vjp');
    expect(ra.reasons.join()).toMatch(/model: .*logSoftmax/);
    expect(b.linearizationReport().model).toBe('linearized');
    let num = 0; let den = 0;
    for (let i = 0; i < ya.length; i++) { num += (ya[i] - yb[i]) ** 2; den += yb[i] ** 2; }
    expect(Math.sqrt(num / den)).toBeLessThan(TOL);
    // The exact product refuses logSoftmax (a customGrad), as before linearization.
    const Ha = a.hessian('exact'); Ha.setPoint(w);
    expect(() => Ha.apply(v, ya)).toThrow(/logSoftmax/);
    a.dispose(); b.dispose();
  });

  it('follows the point and the batch, and holds no tensors beyond the current point', async () => {
    const fn = await make(explicit, 2);
    const w0 = fn.initialParameters();
    const w1 = w0.map((t, i) => t + 0.1 * Math.sin(i));
    const v = Float64Array.from({ length: fn.size }, rng(3));
    const product = (kind: 'gauss-newton' | 'exact', w: Float64Array) => {
      const y = new Float64Array(fn.size);
      const H = fn.hessian(kind); H.setPoint(w); H.apply(v, y);
      return y;
    };
    const first = { gn: product('gauss-newton', w0), hv: product('exact', w0) };
    const settled = tf.memory().numTensors;
    for (let k = 0; k < 5; k++) { product('gauss-newton', w1); product('exact', w1); product('gauss-newton', w0); product('exact', w0); }
    expect(tf.memory().numTensors).toBe(settled);
    expect(product('gauss-newton', w0)).toEqual(first.gn);
    expect(product('exact', w0)).toEqual(first.hv);
    // Another batch: another linearization (batch 1's data differ from batch 0's).
    fn.selectBatch(1);
    const other = product('gauss-newton', w0);
    expect(other).not.toEqual(first.gn);
    fn.selectBatch(0);
    expect(product('gauss-newton', w0)).toEqual(first.gn);
    const before = tf.memory().numTensors;
    fn.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
  });
});
