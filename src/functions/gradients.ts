/**
 * Second-order-correct gradients for tfjs 4.22, installed on import.
 *
 * tfjs builds a higher derivative by recording the ops of a gradient function on the outer tape.
 * A gradient function that reads the op's saved OUTPUT gets a copy that is disconnected from the
 * outer tape (the copy's tape node comes before the node that produced it), so everything the
 * output depends on is silently dropped: Hessian products through tanh came out 29% wrong. The
 * fixes below recompute what they need from the op's INPUTS, which stay connected. They give the
 * same first derivatives, so ordinary first-order use is unaffected.
 *
 * Everything not on the CERTIFIED list (gradient computed from inputs with ops that have
 * gradients themselves) is guarded: while an exact Hessian product is being built, calling its
 * gradient throws UnsupportedSecondDerivativeError naming the op, so a wrong product is never
 * returned. customGrad ops (logSoftmax, logSigmoid, fused convolutions, user customGrads) are
 * refused the same way, because their saved tensors have the same defect.
 *
 * Speed on wasm: the stock matMul gradient multiplies with transpose flags, 10x slower on wasm
 * than an explicit transpose followed by a plain matMul; and wasm's native tanh is ~10x slower
 * than one through sigmoid. Both are replaced here.
 */
import * as tf from '@tensorflow/tfjs';
import { exactScalar } from './backend';

/** Thrown when an exact second derivative through `op` cannot be computed correctly. */
export class UnsupportedSecondDerivativeError extends Error {
  readonly op: string;
  constructor(op: string, detail?: string) {
    super(`petscml: the exact Hessian product needs the second derivative of tfjs op '${op}', ` +
      `which tfjs cannot compute correctly${detail ? ` (${detail})` : ''}. ` +
      `Use the Gauss-Newton product instead (hessian: 'gauss-newton').`);
    this.name = 'UnsupportedSecondDerivativeError';
    this.op = op;
  }
}

// Internal engine fields we rely on (pinned to tfjs 4.22).
interface EngineInternals {
  state: { gradientDepth: number; activeScope: { name: string } | null };
  customGrad: (f: unknown) => (...inputs: tf.Tensor[]) => tf.Tensor;
}

type GradFunc = (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => Record<string, () => tf.Tensor>;

/** Ops whose gradient stays correct under a second differentiation (stock or replaced here). */
export const CERTIFIED_SECOND_ORDER_OPS: readonly string[] = [
  'Abs', 'Add', 'AddN', 'BatchMatMul', 'BroadcastTo', 'Cast', 'Concat', 'Cos', 'Cosh', 'Elu', 'Erf',
  'Exp', 'ExpandDims', 'Expm1', 'GatherV2', 'Identity', 'Log', 'Log1p', 'Maximum', 'Mean', 'Multiply',
  'Neg', 'OnesLike', 'Pack', 'PadV2', 'Pow', 'RealDiv', 'Reciprocal', 'Relu', 'Reshape', 'Reverse',
  'Rsqrt', 'Select', 'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Slice', 'Softmax', 'Softplus', 'SplitV', 'Sqrt',
  'Square', 'SquaredDifference', 'Step', 'Sub', 'Sum', 'Tanh', 'Tile', 'Transpose', 'Unpack',
  'ZerosLike', 'Floor', 'Ceil', 'Round',
  // zero gradients (NOT_DIFFERENTIABLE): differentiating zerosLike again gives zero, correctly
  'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'IsNan', 'IsInf', 'IsFinite', 'ArgMax', 'ArgMin',
];

/**
 * Ops whose gradient tfjs cannot differentiate again (comparisons in it have no gradient) but
 * whose gradient is a piecewise-constant mask times dy: LeakyRelu (where(x > 0, dy, alpha dy)),
 * Relu6 (dy * (0 < x <= 6)), Minimum (dy * (a <= b), dy * (a > b)). Forward over reverse through
 * a linearization (linearize.ts) differentiates the mask as the constant it is, a.e., so an exact
 * Hessian product recorded for linearization may go through them; the reverse-over-reverse
 * fallback still refuses them. Each is checked against central differences of the gradient in
 * float64 (test/functions/linearize.test.ts).
 */
export const LINEARIZED_SECOND_ORDER_OPS: readonly string[] = ['LeakyRelu', 'Minimum', 'Relu6'];
const linearizedOnly = new Set(LINEARIZED_SECOND_ORDER_OPS);

const guard = { exactDepth: 0, linearizing: 0 };

/** Kernels with no derivative (zero where it exists) and their float inputs, by tfjs's names. */
export const NOT_DIFFERENTIABLE: Readonly<Record<string, string[]>> = {
  Greater: ['a', 'b'], GreaterEqual: ['a', 'b'], Less: ['a', 'b'], LessEqual: ['a', 'b'], Equal: ['a', 'b'],
  NotEqual: ['a', 'b'], IsNan: ['x'], IsInf: ['x'], IsFinite: ['x'], ArgMax: ['x'], ArgMin: ['x'],
};

/**
 * Runs `f` while an exact second derivative is being recorded: guarded gradients and customGrad
 * ops throw instead of contributing silently wrong terms. tfjs's own "gradient function not found
 * for X" on the second pass is translated to the same error.
 */
export function withExactSecondOrder<T>(f: () => T, opts: { linearizing?: boolean } = {}): T {
  if (!opts.linearizing) return disposingKeptOnError(() => withGuard(f));
  // Recorded for linearize(): the ops of LINEARIZED_SECOND_ORDER_OPS are allowed too.
  guard.linearizing++;
  try {
    return disposingKeptOnError(() => withGuard(f));
  } finally {
    guard.linearizing--;
  }
}

/**
 * Runs f; if it throws, disposes the tensors tfjs kept for a backward pass that never ran
 * (the tape's saved tensors outlive tidy scopes), so a refused Hessian product leaks nothing.
 */
export function disposingKeptOnError<T>(f: () => T): T {
  const eng = tf.engine() as unknown as { keep: <X extends tf.Tensor>(t: X) => X };
  const stockKeep = eng.keep;
  const kept: tf.Tensor[] = [];
  eng.keep = <X extends tf.Tensor>(t: X): X => { kept.push(t); return stockKeep.call(eng, t) as X; };
  try {
    return f();
  } catch (e) {
    for (const t of kept) if (!t.isDisposed) t.dispose();
    throw e;
  } finally {
    eng.keep = stockKeep;
  }
}

function withGuard<T>(f: () => T): T {
  guard.exactDepth++;
  try {
    return f();
  } catch (e) {
    throw translateGradientError(e);
  } finally {
    guard.exactDepth--;
  }
}

/** Turns tfjs's missing-gradient error into one that names the op and suggests Gauss-Newton. */
export function translateGradientError(e: unknown): unknown {
  if (e instanceof UnsupportedSecondDerivativeError) return e;
  const m = e instanceof Error ? /gradient function not found for (\S+?)\.?$/m.exec(e.message) : null;
  if (m) return new UnsupportedSecondDerivativeError(m[1], 'no gradient registered for it');
  return e;
}

function engine(): EngineInternals {
  return tf.engine() as unknown as EngineInternals;
}

/** Swaps the last two axes without a transpose-flagged matMul (slow on wasm). */
function swapLast(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(x, perm);
}

/** Sums `g` down to `shape` (undoing broadcasting). */
function sumToShape(g: tf.Tensor, shape: number[]): tf.Tensor {
  if (tf.util.arraysEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return tf.reshape(axes.length ? tf.sum(g, axes) : g, shape);
}

/**
 * d(a@b) for the four transpose cases. On wasm with plain matMuls after explicit transposes; on the
 * petscml backend with transpose flags, which sgemm takes for free (the explicit transposes were
 * 15 of a Gauss-Newton product's 265 kernels).
 */
function matMulGrads(dy: tf.Tensor, a: tf.Tensor, b: tf.Tensor, tA: boolean, tB: boolean) {
  let da: () => tf.Tensor;
  let db: () => tf.Tensor;
  if (tf.getBackend() === 'petscml' || tf.getBackend() === 'petscml-float64') {
    const mt = (x: tf.Tensor, y: tf.Tensor, tx: boolean, ty: boolean) => tf.matMul(x, y, tx, ty);
    if (!tA && !tB) { da = () => mt(dy, b, false, true); db = () => mt(a, dy, true, false); }
    else if (!tA && tB) { da = () => mt(dy, b, false, false); db = () => mt(dy, a, true, false); }
    else if (tA && !tB) { da = () => mt(b, dy, false, true); db = () => mt(a, dy, false, false); }
    else { da = () => mt(b, dy, true, true); db = () => mt(dy, a, true, true); }
    return { a: () => sumToShape(da(), a.shape), b: () => sumToShape(db(), b.shape) };
  }
  const mm = (x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y);
  if (!tA && !tB) { da = () => mm(dy, swapLast(b)); db = () => mm(swapLast(a), dy); }
  else if (!tA && tB) { da = () => mm(dy, b); db = () => mm(swapLast(dy), a); }
  else if (tA && !tB) { da = () => mm(b, swapLast(dy)); db = () => mm(a, dy); }
  else { da = () => swapLast(mm(dy, b)); db = () => swapLast(mm(a, dy)); }
  return {
    a: () => sumToShape(da(), a.shape),
    b: () => sumToShape(db(), b.shape),
  };
}

const replacements: tf.GradConfig[] = [
  {
    kernelName: 'Tanh', inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      return { x: () => { const t = tf.tanh(x); return tf.mul(dy as tf.Tensor, tf.sub(1, tf.square(t))); } };
    },
  },
  {
    kernelName: 'Sigmoid', inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      return { x: () => { const s = tf.sigmoid(x); return tf.mul(dy as tf.Tensor, tf.mul(s, tf.sub(1, s))); } };
    },
  },
  {
    // tfjs's own: reshape(dy) * ones(x.shape), where ones() fills a new array in a JS loop (5% of a
    // Gauss-Newton product on the petscml backend); onesLike is a kernel, native there.
    kernelName: 'Sum', inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const shape = x.shape.slice();
      for (const a of tf.util.parseAxisParam((attrs as { axis: number | number[] }).axis, x.shape)) shape[a] = 1;
      return { x: () => tf.mul(tf.reshape(dy as tf.Tensor, shape), tf.onesLike(x)) };
    },
  },
  {
    // tfjs's own, with 2/sqrt(pi) made exact in double (tfjs's is a float32 constant: ~1e-8 off
    // on petscml-float64); on the float32 backends the same rounding as before.
    kernelName: 'Erf', inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({
      x: () => tf.mul(dy as tf.Tensor, tf.mul(tf.exp(tf.neg(tf.square(saved[0]))), exactScalar(2 / Math.sqrt(Math.PI)))),
    }),
  },
  {
    kernelName: 'Exp', inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({ x: () => tf.mul(dy as tf.Tensor, tf.exp(saved[0])) }),
  },
  {
    // elu(x) = x for x > 0, exp(x) - 1 otherwise (tfjs has alpha = 1). Step rather than
    // greater/where: Greater has no gradient, which would break the next differentiation.
    kernelName: 'Elu', inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      return {
        x: () => {
          const pos = tf.step(x);
          const neg = tf.sub(1, pos);
          // exp of the negative part only, so large positive x cannot overflow to inf * 0.
          return tf.mul(dy as tf.Tensor, tf.add(pos, tf.mul(neg, tf.exp(tf.mul(x, neg)))));
        },
      };
    },
  },
  {
    kernelName: 'Softmax', inputsToSave: ['logits'],
    gradFunc: (dy, saved, attrs) => {
      const [logits] = saved;
      const dim = (attrs as { dim: number }).dim;
      return {
        logits: () => {
          const y = tf.softmax(logits, dim);
          const d = dy as tf.Tensor;
          return tf.mul(y, tf.sub(d, tf.sum(tf.mul(d, y), dim, true)));
        },
      };
    },
  },
  {
    kernelName: 'Pow', inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved;
      const d = dy as tf.Tensor;
      return {
        a: () => sumToShape(tf.mul(d, tf.mul(b, tf.pow(a, tf.sub(b, 1)))), a.shape),
        b: () => {
          // log(a) where a > 0, 0 elsewhere, without Greater (no gradient) on the path.
          const pos = tf.step(a);
          const safe = tf.add(tf.mul(a, pos), tf.sub(1, pos));
          return sumToShape(tf.mul(d, tf.mul(tf.pow(a, b), tf.mul(tf.log(safe), pos))), b.shape);
        },
      };
    },
  },
  {
    kernelName: 'BatchMatMul', inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
      return matMulGrads(dy as tf.Tensor, a, b, transposeA, transposeB);
    },
  },
];

let installed = false;
const stockConfigs = new Map<string, tf.GradConfig>();

/**
 * The gradient tfjs itself registered for `kernelName` before petscml replaced or guarded it
 * (for tests that show the stock one is wrong, and for debugging).
 */
export function stockGradientConfig(kernelName: string): tf.GradConfig | undefined {
  return stockConfigs.get(kernelName);
}

/** The gradient petscml registers for `kernelName` (a replacement, or the guarded stock one). */
export function installedGradientConfig(kernelName: string): tf.GradConfig | undefined {
  return installedConfigs.get(kernelName);
}
const installedConfigs = new Map<string, tf.GradConfig>();

function allKernelNames(): string[] {
  // tfjs exports every kernel name as a string constant equal to its own name.
  const names = new Set<string>();
  for (const [key, value] of Object.entries(tf as Record<string, unknown>)) {
    if (typeof value === 'string' && value === key && /^_?[A-Z]/.test(key)) names.add(key);
  }
  return [...names];
}

/** Idempotent; runs on import of this module. */
export function installSecondOrderGradients(): void {
  if (installed) return;
  installed = true;
  for (const name of allKernelNames()) {
    const config = tf.getGradient(name) as tf.GradConfig | undefined;
    if (config) stockConfigs.set(name, config);
  }
  for (const config of replacements) {
    tf.registerGradient(config);
    installedConfigs.set(config.kernelName, config);
  }
  // Comparisons and other boolean- or index-valued kernels: tfjs registers no gradient, so a mask
  // on the path (where(x > 0, ...)) made every gradient throw "gradient function not found".
  // Their derivative is zero wherever it exists, as TensorFlow's NotDifferentiable says.
  for (const [kernelName, inputs] of Object.entries(NOT_DIFFERENTIABLE)) {
    if (tf.getGradient(kernelName)) continue;
    const config: tf.GradConfig = {
      kernelName, inputsToSave: inputs,
      gradFunc: (_dy, saved) => Object.fromEntries(inputs.map((name, i) => [name, () => tf.zerosLike(saved[i])])),
    };
    tf.registerGradient(config);
    installedConfigs.set(kernelName, config);
  }

  const certified = new Set(CERTIFIED_SECOND_ORDER_OPS);
  for (const name of allKernelNames()) {
    if (certified.has(name)) continue;
    const config = tf.getGradient(name) as tf.GradConfig | undefined;
    if (!config) continue;
    const inner = config.gradFunc as unknown as GradFunc;
    const guarded: tf.GradConfig = {
      ...config,
      gradFunc: ((dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
        if (guard.exactDepth > 0 && !(guard.linearizing > 0 && linearizedOnly.has(name))) throw new UnsupportedSecondDerivativeError(name);
        return inner(dy, saved, attrs);
      }) as unknown as tf.GradFunc,
    };
    tf.registerGradient(guarded);
    installedConfigs.set(name, guarded);
  }

  const eng = engine();
  const stockCustomGrad = eng.customGrad.bind(eng);
  eng.customGrad = (f: unknown) => {
    const scope = eng.state.activeScope?.name ?? 'customGrad';
    const op = stockCustomGrad(f);
    return (...inputs: tf.Tensor[]) => {
      if (guard.exactDepth > 0) {
        throw new UnsupportedSecondDerivativeError(scope.replace(/__op$/, ''), 'a customGrad op, whose saved tensors are not differentiated');
      }
      return op(...inputs);
    };
  };

  // tfjs-layers' Dense calls fused.matMul, which under differentiation is a customGrad (refused
  // above for exact Hessians, and slow on wasm: transpose-flagged matMuls). While a gradient is
  // being recorded, compute the same thing from plain ops instead.
  const fused = tf.fused as unknown as { matMul: (args: FusedArgs) => tf.Tensor };
  const stockFused = fused.matMul;
  fused.matMul = (args: FusedArgs) => {
    if (eng.state.gradientDepth === 0) return stockFused(args);
    return tf.tidy(() => {
      const a = args.a instanceof tf.Tensor ? args.a : tf.tensor(args.a as number[]);
      const b = args.b instanceof tf.Tensor ? args.b : tf.tensor(args.b as number[]);
      let y = tf.matMul(a, b, args.transposeA ?? false, args.transposeB ?? false);
      if (args.bias != null) y = tf.add(y, args.bias as tf.Tensor);
      return applyActivation(y, args.activation ?? 'linear', args.preluActivationWeights as tf.Tensor | undefined, args.leakyreluAlpha);
    });
  };
}

interface FusedArgs {
  a: tf.Tensor | tf.TensorLike; b: tf.Tensor | tf.TensorLike; transposeA?: boolean; transposeB?: boolean;
  bias?: tf.Tensor | tf.TensorLike; activation?: string; preluActivationWeights?: tf.Tensor | tf.TensorLike;
  leakyreluAlpha?: number;
}

function applyActivation(y: tf.Tensor, activation: string, prelu: tf.Tensor | undefined, alpha = 0.2): tf.Tensor {
  switch (activation) {
    case 'linear': return y;
    case 'relu': return tf.relu(y);
    case 'elu': return tf.elu(y);
    case 'relu6': return tf.relu6(y);
    case 'prelu': return tf.prelu(y, prelu as tf.Tensor);
    case 'leakyrelu': return tf.leakyRelu(y, alpha);
    case 'sigmoid': return tf.sigmoid(y);
    default: throw new Error(`petscml: unknown fused activation '${activation}'`);
  }
}

let wasmTanhInstalled = false;

interface WasmBackendInternals {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  disposeData(dataId: unknown): boolean;
}

/**
 * Replaces wasm's Tanh kernel (slow transcendental) by tanh(x) = 2 sigmoid(2x) - 1 on the
 * backend's own Sigmoid kernel. Call after the wasm backend is registered; harmless otherwise.
 */
export function installFastWasmKernels(): void {
  if (wasmTanhInstalled) return;
  const sigmoid = tf.getKernel('Sigmoid', 'wasm');
  if (!sigmoid || !tf.getKernel('Tanh', 'wasm')) return;
  wasmTanhInstalled = true;
  tf.unregisterKernel('Tanh', 'wasm');
  tf.registerKernel({
    kernelName: 'Tanh',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend }) => {
      const be = backend as unknown as WasmBackendInternals;
      const x = inputs.x as tf.TensorInfo;
      const twice = be.makeOutput(x.shape, 'float32');
      const xs = be.typedArrayFromHeap(x);
      const ts = be.typedArrayFromHeap(twice);
      for (let i = 0; i < xs.length; i++) ts[i] = 2 * xs[i];
      const out = sigmoid.kernelFunc({ inputs: { x: twice }, backend, attrs: {} }) as tf.TensorInfo;
      be.disposeData(twice.dataId);
      // The heap may have grown (and moved) while allocating: take the view after the kernel.
      const os = be.typedArrayFromHeap(out);
      for (let i = 0; i < os.length; i++) os[i] = 2 * os[i] - 1;
      return out;
    },
  });
}

installSecondOrderGradients();
