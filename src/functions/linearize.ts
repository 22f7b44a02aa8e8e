/**
 * Linearization of a tfjs function at a point: J v (forward mode) and J^T u (reverse mode) from one
 * recorded evaluation.
 *
 * Why: tfjs has reverse mode only, so a Gauss-Newton product J^T H J v used to be built as a double
 * vjp (J v = d/du <J^T u, v>): the forward pass three times and the backward pass differentiated
 * once more, 21 matrix products on the reference MLP against f+g's 8, all at a point that does not
 * change during a CG solve. Here the forward pass runs once per point with tfjs's tape on; its kernels,
 * their inputs and outputs and the tensors tfjs saved for their gradients are kept. Each product
 * then propagates a tangent forward through the recorded kernels (a forward-mode rule per kernel,
 * below) and a cotangent backward (tfjs's own gradient functions on the saved tensors), without
 * recomputing anything that depends only on the point.
 *
 * A kernel without a forward-mode rule (or a recording this module cannot follow) makes linearize()
 * throw LinearizationUnsupportedError naming it; callers fall back to the double vjp, which is
 * slower but computes the same product.
 *
 * Relies on tfjs 4.22 engine internals (the tape, addTapeNode), as gradients.ts does.
 */
import * as tf from '@tensorflow/tfjs';
import { exactScalar } from './backend';

type T = tf.Tensor;
type Attrs = Record<string, unknown>;

interface TapeNode {
  id: number;
  kernelName: string;
  inputs: Record<string, T>;
  outputs: T[];
  saved?: T[];
  gradient?: (dys: (T | null)[]) => Record<string, () => T>;
}

interface EngineInternals {
  state: { gradientDepth: number; kernelDepth: number; activeTape: TapeNode[] | null };
  startTape(): void;
  endTape(): void;
  addTapeNode(kernelName: string, inputs: Record<string, T>, outputs: T[], gradientsFunc: unknown, saved: T[], attrs: Attrs): void;
  keep<X extends T>(t: X): X;
  clone(x: T): T;
  makeTensorFromTensorInfo(info: { dataId: object; shape: number[]; dtype: tf.DataType }): T;
  backend: { incRef(dataId: object): void };
}

/** Thrown when a function cannot be linearized (a kernel without a forward-mode rule, mostly). */
export class LinearizationUnsupportedError extends Error {
  /** The kernel that has no rule, when that is the reason. */
  readonly kernel: string | undefined;
  constructor(reason: string, kernel?: string) {
    super(`petscml: cannot linearize: ${reason}`);
    this.name = 'LinearizationUnsupportedError';
    this.kernel = kernel;
  }
}

/** Primal values of one recorded kernel, as the rules see them. */
interface Primal {
  /** The input called `name` (the held copy: valid as long as the linearization is). */
  in(name: string): T;
  /** Output i (default 0). */
  out(i?: number): T;
  attrs: Attrs;
  /** Input names, in the kernel's order. */
  names: string[];
}

type Tangents = Record<string, T | undefined>;

/**
 * A kernel's forward-mode rule. `factor`: an elementwise unary kernel's derivative f'(x) (computed
 * once per point, then J v and J^T u both multiply by it). `jvp`: the output tangents (undefined
 * for an output that does not depend on the inputs differentiably) from the input tangents
 * (undefined for an input that does not depend on the linearization's arguments).
 */
interface Rule {
  factor?: (p: Primal) => T;
  jvp?: (p: Primal, d: Tangents) => (T | undefined)[];
  /** Piecewise constant: no tangent, no cotangent. */
  constant?: boolean;
}

const sole = (p: Primal, d: Tangents): T | undefined => d[p.names[0]];
const one = (f: (p: Primal, dx: T) => T): Rule => ({ jvp: (p, d) => [f(p, sole(p, d) as T)] });
const noTangent: Rule = { constant: true, jvp: () => [undefined] };

/** `t`, or t broadcast to the output's shape (a tangent of a broadcast operand only). */
function toOut(t: T, p: Primal): T {
  const shape = p.out().shape;
  return tf.util.arraysEqual(t.shape, shape) ? t : tf.broadcastTo(t, shape);
}

function sumOf(p: Primal, terms: (T | undefined)[]): T | undefined {
  const present = terms.filter((t): t is T => t !== undefined);
  if (present.length === 0) return undefined;
  return toOut(present.reduce((a, b) => tf.add(a, b)), p);
}

const half = (): T => exactScalar(0.5);

/** The elementwise unary kernels: f'(x) from x = p.in(name) and y = p.out(). */
const FACTORS: Record<string, (x: () => T, y: () => T, attrs: Attrs) => T> = {
  Tanh: (_x, y) => tf.sub(1, tf.square(y())),
  Sigmoid: (_x, y) => tf.mul(y(), tf.sub(1, y())),
  Exp: (_x, y) => y(),
  Expm1: (_x, y) => tf.add(y(), 1),
  Log: (x) => tf.reciprocal(x()),
  Log1p: (x) => tf.reciprocal(tf.add(x(), 1)),
  Sqrt: (_x, y) => tf.div(half(), y()),
  Rsqrt: (_x, y) => tf.mul(exactScalar(-0.5), tf.mul(tf.square(y()), y())),
  Reciprocal: (_x, y) => tf.neg(tf.square(y())),
  Square: (x) => tf.mul(x(), 2),
  Abs: (x) => tf.step(x(), -1), // tfjs's convention: -1 at 0
  Relu: (x) => tf.step(x()),
  Relu6: (x) => tf.mul(tf.step(x()), tf.cast(tf.lessEqual(x(), 6), 'float32')),
  // tfjs's EluGrad: 1 where y >= 0, y + 1 elsewhere.
  Elu: (x, y) => { const pos = tf.step(x()); return tf.add(pos, tf.mul(tf.sub(1, pos), tf.add(y(), 1))); },
  LeakyRelu: (x, _y, a) => { const pos = tf.step(x()); return tf.add(pos, tf.mul(tf.sub(1, pos), exactScalar(a.alpha as number))); },
  Sin: (x) => tf.cos(x()),
  Cos: (x) => tf.neg(tf.sin(x())),
  Sinh: (x) => tf.cosh(x()),
  Cosh: (x) => tf.sinh(x()),
  Softplus: (x) => tf.sigmoid(x()),
  Erf: (x) => tf.mul(tf.exp(tf.neg(tf.square(x()))), exactScalar(2 / Math.sqrt(Math.PI))),
  Tan: (_x, y) => tf.add(tf.square(y()), 1),
  Atan: (x) => tf.reciprocal(tf.add(tf.square(x()), 1)),
  Asin: (x) => tf.rsqrt(tf.sub(1, tf.square(x()))),
  Acos: (x) => tf.neg(tf.rsqrt(tf.sub(1, tf.square(x())))),
  Asinh: (x) => tf.rsqrt(tf.add(tf.square(x()), 1)),
  Acosh: (x) => tf.rsqrt(tf.sub(tf.square(x()), 1)),
  Atanh: (x) => tf.reciprocal(tf.sub(1, tf.square(x()))),
};

const linear = (f: (p: Primal, dx: T) => T): Rule => one(f);
const zerosOf = (p: Primal, name: string, d: Tangents): T => d[name] ?? tf.zerosLike(p.in(name));

const RULES: Record<string, Rule> = {
  ...Object.fromEntries(Object.entries(FACTORS).map(([k, f]) => [k, {
    factor: (p: Primal) => f(() => p.in(p.names[0]), () => p.out(), p.attrs),
  } satisfies Rule])),
  Neg: linear((_p, dx) => tf.neg(dx)),
  Identity: linear((_p, dx) => dx),
  Cast: { jvp: (p, d) => [p.out().dtype === 'float32' ? sole(p, d) : undefined] },
  Reshape: linear((p, dx) => tf.reshape(dx, p.out().shape)),
  ExpandDims: linear((p, dx) => tf.reshape(dx, p.out().shape)),
  Transpose: linear((p, dx) => tf.transpose(dx, p.attrs.perm as number[])),
  Slice: linear((p, dx) => tf.slice(dx, p.attrs.begin as number[], p.attrs.size as number[])),
  PadV2: linear((p, dx) => tf.pad(dx, p.attrs.paddings as [number, number][], 0)),
  Tile: linear((p, dx) => tf.tile(dx, p.attrs.reps as number[])),
  Reverse: linear((p, dx) => tf.reverse(dx, p.attrs.dims as number[])),
  GatherV2: { jvp: (p, d) => [d.x === undefined ? undefined : tf.gather(d.x, p.in('indices'), p.attrs.axis as number, p.attrs.batchDims as number)] },
  // GatherV2's gradient: linear in x, the segment ids a constant.
  UnsortedSegmentSum: { jvp: (p, d) => [d.x === undefined ? undefined : tf.unsortedSegmentSum(d.x, p.in('segmentIds') as tf.Tensor1D, p.attrs.numSegments as number)] },
  Sum: linear((p, dx) => tf.sum(dx, p.attrs.axis as number[], p.attrs.keepDims as boolean)),
  Mean: linear((p, dx) => tf.mean(dx, p.attrs.axis as number[], p.attrs.keepDims as boolean)),
  Concat: { jvp: (p, d) => [tf.concat(p.names.map((n) => zerosOf(p, n, d)), p.attrs.axis as number)] },
  Pack: { jvp: (p, d) => [tf.stack(p.names.map((n) => zerosOf(p, n, d)), p.attrs.axis as number)] },
  Unpack: { jvp: (p, d) => tf.unstack(sole(p, d) as T, p.attrs.axis as number) },
  SplitV: { jvp: (p, d) => tf.split(sole(p, d) as T, p.attrs.numOrSizeSplits as number[], p.attrs.axis as number) },
  AddN: { jvp: (p, d) => [sumOf(p, p.names.map((n) => d[n]))] },
  Add: { jvp: (p, d) => [sumOf(p, [d.a, d.b])] },
  Sub: { jvp: (p, d) => [sumOf(p, [d.a, d.b && tf.neg(d.b)])] },
  Multiply: { jvp: (p, d) => [sumOf(p, [d.a && tf.mul(d.a, p.in('b')), d.b && tf.mul(p.in('a'), d.b)])] },
  // d(a / b) = (da - y db) / b
  RealDiv: {
    jvp: (p, d) => {
      const num = sumOf(p, [d.a, d.b && tf.neg(tf.mul(p.out(), d.b))]);
      return [num && tf.div(num, p.in('b'))];
    },
  },
  SquaredDifference: {
    jvp: (p, d) => {
      const dd = sumOf(p, [d.a, d.b && tf.neg(d.b)]);
      return [dd && tf.mul(tf.mul(tf.sub(p.in('a'), p.in('b')), 2), dd)];
    },
  },
  // tfjs's masks: Maximum's gradient goes to a where a >= b, Minimum's where a <= b.
  Maximum: { jvp: (p, d) => minMax(p, d, tf.greaterEqual) },
  Minimum: { jvp: (p, d) => minMax(p, d, tf.lessEqual) },
  Pow: {
    jvp: (p, d) => {
      const a = p.in('a'); const b = p.in('b');
      const da = d.a && tf.mul(d.a, tf.mul(b, tf.pow(a, tf.sub(b, 1))));
      // log(a) where a > 0, 0 elsewhere (tfjs's convention for the exponent's gradient).
      const db = d.b && (() => {
        const pos = tf.step(a);
        const safe = tf.add(tf.mul(a, pos), tf.sub(1, pos));
        return tf.mul(d.b, tf.mul(p.out(), tf.mul(tf.log(safe), pos)));
      })();
      return [sumOf(p, [da, db])];
    },
  },
  Select: {
    jvp: (p, d) => (d.t === undefined && d.e === undefined ? [undefined]
      : [tf.where(p.in('condition'), toOut(zerosOf(p, 't', d), p), toOut(zerosOf(p, 'e', d), p))]),
  },
  BatchMatMul: {
    jvp: (p, d) => {
      const tA = p.attrs.transposeA as boolean; const tB = p.attrs.transposeB as boolean;
      return [sumOf(p, [d.a && tf.matMul(d.a, p.in('b'), tA, tB), d.b && tf.matMul(p.in('a'), d.b, tA, tB)])];
    },
  },
  // Bilinear in (x, filter): the tangent is the same kernel on (dx, filter) plus on (x, dfilter).
  Conv2D: bilinear('Conv2D'), DepthwiseConv2dNative: bilinear('DepthwiseConv2dNative'), Conv3D: bilinear('Conv3D'),
  // Linear in x: the same kernel on the tangent.
  AvgPool: sameKernel('AvgPool'), Cumsum: sameKernel('Cumsum'),
  // The tangent of the selected elements (tfjs's gradient gives every tie the whole dy: its adjoint).
  Max: { jvp: (p, d) => [extremum(p, d, 'reductionIndices')] },
  Min: { jvp: (p, d) => [extremum(p, d, 'axis')] },
  Softmax: {
    jvp: (p, d) => {
      const y = p.out(); const dim = p.attrs.dim as number;
      const dx = d.logits as T;
      return [tf.mul(y, tf.sub(dx, tf.sum(tf.mul(y, dx), dim, true)))];
    },
  },
  // Piecewise constant: zero derivative almost everywhere, as tfjs's gradients say.
  Step: noTangent, Sign: noTangent, Floor: noTangent, Ceil: noTangent, Round: noTangent,
  ZerosLike: noTangent, OnesLike: noTangent,
};

function bilinear(kernel: string): Rule {
  const run = (x: T, filter: T, attrs: Attrs) =>
    tf.engine().runKernel(kernel, { x, filter } as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as T;
  return {
    jvp: (p, d) => [sumOf(p, [d.x && run(d.x, p.in('filter'), p.attrs), d.filter && run(p.in('x'), d.filter, p.attrs)])],
  };
}

function sameKernel(kernel: string): Rule {
  return { jvp: (p, d) => [tf.engine().runKernel(kernel, { x: d.x as T } as unknown as tf.NamedTensorMap, p.attrs as unknown as tf.NamedAttrMap) as T] };
}

function extremum(p: Primal, d: Tangents, axisAttr: string): T {
  const x = p.in('x');
  const axes = tf.util.parseAxisParam(p.attrs[axisAttr] as number | number[], x.shape);
  const kept = x.shape.map((n, i) => (axes.includes(i) ? 1 : n));
  const mask = tf.cast(tf.equal(x, tf.reshape(p.out(), kept)), 'float32');
  return tf.sum(tf.mul(d.x as T, mask), axes, p.attrs.keepDims as boolean);
}

function minMax(p: Primal, d: Tangents, pick: (a: T, b: T) => T): (T | undefined)[] {
  const mask = tf.cast(pick(p.in('a'), p.in('b')), 'float32');
  return [sumOf(p, [d.a && tf.mul(d.a, mask), d.b && tf.mul(d.b, tf.sub(1, mask))])];
}

/** The kernels linearize() has a forward-mode rule for. */
export const LINEARIZED_KERNELS: readonly string[] = Object.keys(RULES).sort();

interface Step {
  node: TapeNode;
  rule: Rule;
  primal: Primal;
  /** Input names that depend on the arguments (the only ones that get tangents or cotangents). */
  live: string[];
  factor?: T;
}

export interface Linearization {
  /** f at the point, one tensor per output (owned by the linearization). */
  readonly outputs: readonly T[];
  /** The recorded kernels between the arguments and the outputs, in order (for reports and tests). */
  readonly kernels: readonly string[];
  /** J v, one tensor per output, for v shaped like the arguments. Call inside a tidy: intermediate tensors are not kept. */
  jvp(v: readonly T[]): T[];
  /** J^T u, one tensor per argument, for u shaped like the outputs. Call inside a tidy. */
  vjp(u: readonly T[]): T[];
  /** Releases everything recorded. */
  dispose(): void;
}

function engine(): EngineInternals {
  return tf.engine() as unknown as EngineInternals;
}

const isFloat = (t: T) => t.dtype === 'float32';

/**
 * Records f(xs) and returns its linearization at xs. Throws LinearizationUnsupportedError (after
 * releasing what it recorded) when some kernel between xs and the output has no rule; errors of
 * f itself pass through.
 */
export function linearize(f: (xs: readonly T[]) => T | T[], xs: readonly T[]): Linearization {
  const eng = engine();
  if (eng.state.gradientDepth !== 0) throw new LinearizationUnsupportedError('called while a gradient is being recorded');
  const records: { node: TapeNode; attrs: Attrs; copy: boolean }[] = [];
  const held = new Map<number, T>();
  const hold = (t: T) => {
    if (held.has(t.id)) return;
    // Another reference to t's data (no copy, no kernel, nothing recorded): the kernels' own
    // tensors are disposed by f's tidy scopes, these stay until the linearization is released.
    const c = eng.makeTensorFromTensorInfo({ dataId: t.dataId, shape: t.shape, dtype: t.dtype });
    eng.backend.incRef(t.dataId);
    held.set(t.id, eng.keep(c));
  };
  const stockAdd = eng.addTapeNode;
  const stockClone = eng.clone;
  const own = (k: string) => Object.prototype.hasOwnProperty.call(eng, k);
  const ownAdd = own('addTapeNode');
  const ownClone = own('clone');
  // tfjs records each copy it saves for a gradient as a node named after the op's scope: a copy
  // (Identity on some backends shares the data, on wasm it does not), known by where it comes from.
  let copying = 0;
  let outputs: T[] | undefined;
  let tape: TapeNode[] = [];
  const releaseAll = () => {
    for (const n of tape) for (const s of n.saved ?? []) s.dispose();
    for (const t of held.values()) t.dispose();
    held.clear();
    for (const o of outputs ?? []) o.dispose();
  };
  eng.addTapeNode = function addTapeNode(kernelName, inputs, outputs, gradientsFunc, saved, attrs) {
    stockAdd.call(eng, kernelName, inputs, outputs, gradientsFunc, saved, attrs);
    const active = eng.state.activeTape as TapeNode[];
    records.push({ node: active[active.length - 1], attrs: attrs ?? {}, copy: copying > 0 });
    for (const t of Object.values(inputs)) if (t) hold(t);
    for (const t of outputs) hold(t);
  };
  eng.clone = function clone(x: T): T {
    copying++;
    try {
      return stockClone.call(eng, x);
    } finally {
      copying--;
    }
  };
  eng.startTape();
  try {
    const r = tf.tidy(() => f(xs));
    const list = Array.isArray(r) ? r : [r];
    // An argument that comes back as it is is not ours to keep; a repeated output, not ours to keep twice.
    const fresh = list.length > 0 && new Set(list).size === list.length && list.every((o) => o instanceof tf.Tensor && !xs.includes(o));
    if (fresh) outputs = list.map((o) => tf.keep(o));
    else for (const o of list) if (o instanceof tf.Tensor && !xs.includes(o)) o.dispose();
  } catch (e) {
    tape = eng.state.activeTape ?? [];
    releaseAll();
    throw e;
  } finally {
    eng.endTape();
    if (ownAdd) eng.addTapeNode = stockAdd;
    else delete (eng as Partial<EngineInternals>).addTapeNode; // back to the prototype's
    if (ownClone) eng.clone = stockClone;
    else delete (eng as Partial<EngineInternals>).clone;
    if (eng.state.gradientDepth === 0) {
      tape = eng.state.activeTape ?? tape;
      eng.state.activeTape = null;
    }
  }
  if (!outputs) {
    releaseAll();
    throw new LinearizationUnsupportedError('the function does not return new, distinct tf.Tensors');
  }
  try {
    const steps = plan(records, xs, outputs, held);
    return finish(steps, xs, outputs, held, tape);
  } catch (e) {
    releaseAll();
    throw e;
  }
}

/** The recorded kernels between xs and the outputs, in order, each with its rule. */
function plan(records: { node: TapeNode; attrs: Attrs; copy: boolean }[], xs: readonly T[], outputs: readonly T[], held: Map<number, T>): Step[] {
  const producer = new Map<number, number>();
  records.forEach(({ node }, i) => node.outputs.forEach((o) => { if (!producer.has(o.id)) producer.set(o.id, i); }));
  const fromX = new Set(xs.map((x) => x.id));
  const nodeFromX = records.map(({ node }) => {
    const live = Object.values(node.inputs).some((t) => t && fromX.has(t.id));
    if (live) node.outputs.forEach((o) => { if (isFloat(o)) fromX.add(o.id); });
    return live;
  });
  const toY = new Set(outputs.map((o) => o.id));
  const nodeToY = new Array<boolean>(records.length).fill(false);
  for (let i = records.length - 1; i >= 0; i--) {
    const { node } = records[i];
    if (!node.outputs.some((o) => toY.has(o.id))) continue;
    nodeToY[i] = true;
    for (const t of Object.values(node.inputs)) if (t) toY.add(t.id);
  }
  const steps: Step[] = [];
  records.forEach(({ node, attrs, copy }, i) => {
    if (!nodeToY[i]) return;
    // tfjs records the copy of a saved output before the kernel that makes it: a path through
    // such a copy cannot be followed in order (and a double vjp drops it too: gradients.ts).
    for (const t of Object.values(node.inputs)) {
      if (t && (producer.get(t.id) ?? -1) >= i) {
        throw new LinearizationUnsupportedError(`the recorded ${node.kernelName} kernel reads a tensor made after it (a saved output of a gradient)`, node.kernelName);
      }
    }
    if (!nodeFromX[i]) return;
    const names = Object.keys(node.inputs);
    const live = names.filter((n) => node.inputs[n] && fromX.has(node.inputs[n].id));
    // A kernel with no float output (a comparison, a cast to integers) carries no tangent.
    const rule = copy ? RULES.Identity : node.outputs.some(isFloat) ? RULES[node.kernelName] : noTangent;
    if (!rule) {
      throw new LinearizationUnsupportedError(`no forward-mode rule for the tfjs kernel '${node.kernelName}'`, node.kernelName);
    }
    if (!rule.factor && !node.gradient && node.outputs.some(isFloat)) {
      throw new LinearizationUnsupportedError(`the tfjs kernel '${node.kernelName}' has no gradient`, node.kernelName);
    }
    const primal: Primal = {
      in: (n) => held.get(node.inputs[n].id) as T,
      out: (k = 0) => held.get(node.outputs[k].id) as T,
      attrs,
      names,
    };
    steps.push({ node, rule, primal, live });
  });
  return steps;
}

function finish(steps: Step[], xs: readonly T[], outputs: readonly T[], held: Map<number, T>, tape: TapeNode[]): Linearization {
  // Keep only what the steps use: the held copies of their inputs and outputs, their saved tensors.
  const used = new Set<number>();
  const usedNodes = new Set(steps.map((s) => s.node));
  for (const s of steps) {
    for (const t of Object.values(s.node.inputs)) if (t) used.add(t.id);
    for (const t of s.node.outputs) used.add(t.id);
  }
  for (const [id, t] of held) if (!used.has(id)) { t.dispose(); held.delete(id); }
  for (const n of tape) if (!usedNodes.has(n)) for (const t of n.saved ?? []) t.dispose();
  let disposed = false;
  const alive = () => { if (disposed) throw new Error('petscml: this linearization has been disposed'); };

  const factorOf = (s: Step): T => {
    s.factor ??= tf.keep(tf.tidy(() => (s.rule.factor as (p: Primal) => T)(s.primal)));
    return s.factor;
  };

  return {
    outputs,
    kernels: steps.map((s) => s.node.kernelName),
    jvp(v: readonly T[]): T[] {
      alive();
      if (v.length !== xs.length) throw new Error(`petscml: jvp: ${v.length} tangents for ${xs.length} arguments`);
      const tan = new Map<number, T>();
      xs.forEach((x, i) => {
        if (!tf.util.arraysEqual(v[i].shape, x.shape)) throw new Error(`petscml: jvp: tangent ${i} has shape [${v[i].shape}], the argument [${x.shape}]`);
        tan.set(x.id, v[i]);
      });
      for (const s of steps) {
        const d: Tangents = {};
        let any = false;
        for (const n of s.live) {
          const t = tan.get(s.node.inputs[n].id);
          d[n] = t;
          if (t) any = true;
        }
        if (!any) continue;
        const outs = s.rule.factor ? [tf.mul(d[s.primal.names[0]] as T, factorOf(s))] : (s.rule.jvp as NonNullable<Rule['jvp']>)(s.primal, d);
        s.node.outputs.forEach((o, i) => { const t = outs[i]; if (t && isFloat(o)) tan.set(o.id, t); });
      }
      return outputs.map((o) => tan.get(o.id) ?? tf.zerosLike(o));
    },
    vjp(u: readonly T[]): T[] {
      alive();
      if (u.length !== outputs.length) throw new Error(`petscml: vjp: ${u.length} cotangents for ${outputs.length} outputs`);
      const cot = new Map<number, T>();
      outputs.forEach((o, i) => {
        if (!tf.util.arraysEqual(u[i].shape, o.shape)) throw new Error(`petscml: vjp: cotangent ${i} has shape [${u[i].shape}], the output [${o.shape}]`);
        cot.set(o.id, u[i]);
      });
      const accumulate = (x: T, dx: T, kernel: string) => {
        if (!tf.util.arraysEqual(dx.shape, x.shape)) {
          throw new Error(`petscml: the gradient of tfjs kernel '${kernel}' has shape [${dx.shape}] for an input of shape [${x.shape}]`);
        }
        const prev = cot.get(x.id);
        cot.set(x.id, prev ? tf.add(prev, dx) : dx);
      };
      for (let i = steps.length - 1; i >= 0; i--) {
        const s = steps[i];
        const dys = s.node.outputs.map((o) => cot.get(o.id) ?? null);
        if (s.rule.constant || s.live.length === 0 || dys.every((d) => d === null)) continue;
        if (s.rule.factor) {
          accumulate(s.node.inputs[s.live[0]], tf.mul(dys[0] as T, factorOf(s)), s.node.kernelName);
          continue;
        }
        if (!s.node.outputs.some(isFloat)) continue; // piecewise constant in its float inputs
        const grads = (s.node.gradient as NonNullable<TapeNode['gradient']>)(dys);
        for (const n of s.live) accumulate(s.node.inputs[n], grads[n](), s.node.kernelName);
      }
      return xs.map((x) => cot.get(x.id) ?? tf.zerosLike(x));
    },
    dispose(): void {
      if (disposed) return;
      disposed = true;
      for (const s of steps) { s.factor?.dispose(); for (const t of s.node.saved ?? []) t.dispose(); }
      for (const t of held.values()) t.dispose();
      held.clear();
      for (const o of outputs) o.dispose();
    },
  };
}
