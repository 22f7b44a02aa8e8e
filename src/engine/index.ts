/**
 * The `petscml` tfjs backend: tfjs's cpu backend with its hot kernels computed natively (the
 * addon's engine: OpenBLAS sgemm for matrix products, compiled loops for elementwise work and
 * reductions). Tensor data is the cpu backend's (typed arrays owned by tfjs, freed when tfjs
 * disposes the tensor); native kernels read and write them in place.
 *
 * A kernel, or a case of one (an int32 input, a broadcast of batch dimensions, a fused activation),
 * without a native implementation runs the cpu backend's implementation on the same data, and is
 * counted: `kernelReport()` says which kernels ran natively and which fell back, and
 * `PETSCML_KERNEL_TRACE=1` prints that table when the process exits. Nothing is ever computed
 * approximately "for speed": a fallback gives tfjs's own result.
 */
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { native, NativeEngine } from '../native';

export const BACKEND_NAME = 'petscml';
/**
 * The same engine with every float32-dtype tensor held as a Float64Array and computed in double
 * (tfjs has no float64 dtype: tensors keep dtype 'float32', their data is double). A kernel, or a
 * case of one, without a float64 implementation throws naming it: nothing of a float64 model is
 * computed in float32 silently.
 */
export const BACKEND_NAME_FLOAT64 = 'petscml-float64';

/** A backend's float array: Float64Array on petscml-float64, Float32Array on petscml. */
type FArr = Float32Array | Float64Array;

type Info = tf.TensorInfo;
type Args = { inputs: Record<string, Info>; backend: tf.KernelBackend; attrs?: tf.NamedAttrMap };
type Impl = (args: Args) => Info | Info[] | undefined; // undefined: not this case, fall back

/** Per kernel: calls computed natively, and calls run by the cpu backend's implementation. */
export interface KernelCounts {
  native: number;
  fallback: number;
  /** Milliseconds spent in the kernel, when PETSCML_KERNEL_TRACE=1 (else 0). */
  ms: number;
}

const counts = new Map<string, KernelCounts>();
const count = (name: string, how: keyof KernelCounts) => {
  let c = counts.get(name);
  if (!c) counts.set(name, (c = { native: 0, fallback: 0, ms: 0 }));
  (c[how] as number)++;
  return c;
};
const tracing = process.env.PETSCML_KERNEL_TRACE === '1';

/** Kernel calls on the petscml backend since the start (or the last reset), by kernel name. */
export function kernelReport(opts: { reset?: boolean } = {}): Record<string, KernelCounts> {
  const r = Object.fromEntries([...counts].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, { ...v }]));
  if (opts.reset) counts.clear();
  return r;
}

/** The share of kernel calls that ran natively, and the kernels that fell back (most calls first). */
export function summarizeKernels(r: Record<string, KernelCounts> = kernelReport()): { nativeShare: number; fallbacks: [string, number][] } {
  let nat = 0, all = 0;
  const fallbacks: [string, number][] = [];
  for (const [k, c] of Object.entries(r)) {
    nat += c.native;
    all += c.native + c.fallback;
    if (c.fallback) fallbacks.push([k, c.fallback]);
  }
  return { nativeShare: all ? nat / all : 1, fallbacks: fallbacks.sort((a, b) => b[1] - a[1]) };
}

/** Bytes of released outputs kept for reuse (a new ArrayBuffer costs V8 more than the kernel). */
const POOL_LIMIT = 256 * 2 ** 20;
const POOL_MIN = 1024; // elements: smaller arrays are cheap to make

class PetscmlBackend extends MathBackendCPU {
  // Outputs of native kernels, by length, whose tensors were disposed. An array is only reused
  // when nothing else can see it: arrays handed out by dataSync()/data(), and buffers a fallback
  // kernel aliased (the cpu backend's Slice returns a subarray), leave `reusable` for good.
  private readonly pool = new Map<number, FArr[]>();
  private pooledBytes = 0;
  private readonly reusable = new WeakSet<ArrayBufferLike>();
  private readonly made = new WeakSet<FArr>(); // the array objects alloc() made

  /** float64: float32-dtype data is held and computed in double (BACKEND_NAME_FLOAT64). */
  constructor(readonly f64 = false) {
    super();
    // The cpu backend's first tensor prints an advert for tfjs-node; this is not the cpu backend.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  /** An output array of n elements, its contents undefined (every native kernel writes all of it). */
  alloc(n: number): FArr {
    const a = n >= POOL_MIN ? this.pool.get(n)?.pop() : undefined;
    if (a) {
      this.pooledBytes -= a.byteLength;
      return a;
    }
    const b = this.f64 ? new Float64Array(n) : new Float32Array(n);
    if (n >= POOL_MIN) {
      this.reusable.add(b.buffer);
      this.made.add(b);
    }
    return b;
  }

  /**
   * Called on a fallback kernel's outputs: a buffer of ours that a new tensor aliases is never
   * reused. An output that is an input's own data (Reshape, Identity: the same data id, counted by
   * tfjs's reference count) is no alias; treating it as one kept most arrays out of the pool.
   */
  forgetAliases(outputs: Info | Info[], inputs: Record<string, Info>): void {
    const ins = Object.values(inputs ?? {});
    for (const o of Array.isArray(outputs) ? outputs : [outputs]) {
      if (ins.some((t) => t?.dataId === o.dataId)) continue;
      const v = this.data.get(o.dataId)?.values as FArr | undefined;
      if (v?.buffer && this.reusable.has(v.buffer)) this.reusable.delete(v.buffer);
    }
  }

  private handOut(dataId: object): void {
    const v = this.data.get(dataId)?.values as FArr | undefined;
    if (v?.buffer) this.reusable.delete(v.buffer);
  }

  // float64: float32-dtype data that arrives as float32 (tf.tensor() converts every float array to
  // Float32Array before the backend sees it; the cpu kernels that may run here make Float32Arrays)
  // is widened, exactly. Double data reaches the backend only through makeTensor (src/functions
  // exactTensor), which tfjs passes through unconverted.
  private widen(values: tf.backend_util.BackendValues, dtype: tf.DataType): tf.backend_util.BackendValues {
    if (!this.f64 || dtype !== 'float32' || values instanceof Float64Array || values == null) return values;
    // tfjs types float data as Float32Array; a Float64Array serves every reader of it here.
    return Float64Array.from(values as ArrayLike<number>) as unknown as tf.backend_util.BackendValues;
  }
  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): object {
    return super.write(this.widen(values, dtype), shape, dtype);
  }
  override move(dataId: object, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    super.move(dataId, this.widen(values, dtype), shape, dtype, refCount);
  }
  override readSync(dataId: object): tf.backend_util.BackendValues {
    this.handOut(dataId);
    // The cpu backend's readSync converts float32-dtype data to a Float32Array: doubles come out as they are.
    const d = this.f64 ? this.data.get(dataId) : undefined;
    if (d && d.dtype === 'float32' && d.values instanceof Float64Array) return d.values as unknown as tf.backend_util.BackendValues;
    return super.readSync(dataId);
  }
  override read(dataId: object): Promise<tf.backend_util.BackendValues> {
    this.handOut(dataId);
    return super.read(dataId);
  }
  override bufferSync<R extends tf.Rank, D extends tf.DataType>(t: tf.TensorInfo): tf.TensorBuffer<R, D> {
    this.handOut(t.dataId);
    return super.bufferSync<R, D>(t);
  }

  override disposeData(dataId: object, force = false): boolean {
    const v = this.data.get(dataId)?.values;
    const freed = super.disposeData(dataId, force);
    // Only the very array alloc() made (not another view of its buffer), never seen outside.
    if (freed && (v instanceof Float32Array || v instanceof Float64Array) && this.made.has(v) && this.reusable.has(v.buffer) &&
        this.pooledBytes + v.byteLength <= POOL_LIMIT) {
      let list = this.pool.get(v.length);
      if (!list) this.pool.set(v.length, (list = []));
      list.push(v);
      this.pooledBytes += v.byteLength;
    }
    return freed;
  }
  override floatPrecision(): 16 | 32 {
    return 32;
  }
}

let eng: NativeEngine | undefined;
const E = () => (eng ??= native().engine);

function values(backend: tf.KernelBackend, t: Info): FArr | undefined {
  if (t.dtype !== 'float32') return undefined;
  const v = (backend as MathBackendCPU).data.get(t.dataId)?.values;
  return (backend as PetscmlBackend).f64 ? (v instanceof Float64Array ? v : undefined) : (v instanceof Float32Array ? v : undefined);
}

const alloc = (backend: tf.KernelBackend, n: number): FArr => (backend as PetscmlBackend).alloc(n);

const out = (backend: tf.KernelBackend, shape: number[], v: FArr): Info =>
  (backend as MathBackendCPU).makeTensorInfo(shape, 'float32', v as Float32Array);

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Row-major strides of `shape` padded to `rank`, 0 on the axes broadcast to `outShape`. */
function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const rank = outShape.length;
  const padded = [...new Array(rank - shape.length).fill(1), ...shape];
  const strides = new Array<number>(rank);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) {
    strides[d] = padded[d] === 1 && outShape[d] !== 1 ? 0 : s;
    s *= padded[d];
  }
  return strides;
}

// ---------------------------------------------------------------------------------------------
// Elementwise.

const UNARY: Record<string, number> = {
  Neg: 0, Exp: 1, Log: 2, Tanh: 3, Sigmoid: 4, Relu: 5, Square: 6, Sqrt: 7, Abs: 8, Sin: 9, Cos: 10, Elu: 11,
  Softplus: 12, Erf: 13, Rsqrt: 14, Reciprocal: 15, Sign: 16, Log1p: 18, Expm1: 19,
};

function unary(op: number): Impl {
  return ({ inputs, backend }) => {
    const x = inputs.x;
    const xv = values(backend, x);
    if (!xv) return undefined;
    const o = alloc(backend, xv.length);
    E().unary(op, xv, o, xv.length);
    return out(backend, x.shape.slice(), o);
  };
}

const BINARY: Record<string, number> = {
  Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Maximum: 4, Minimum: 5, Pow: 6, SquaredDifference: 7,
};

/**
 * Merges adjacent axes along which both operands step alike (both contiguous, or both broadcast),
 * so that equal shapes become one flat loop and a bias add two: the native loop's cost is per
 * innermost run, and [1000, 64] as 1000 runs of 64 took 6x the time of one run of 64,000.
 */
function coalesce(shape: number[], sa: number[], sb: number[]): [number[], number[], number[]] {
  const cs: number[] = [], ca: number[] = [], cb: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue; // a size-1 axis steps nowhere
    const k = cs.length - 1;
    if (k >= 0 && ca[k] === sa[d] * shape[d] && cb[k] === sb[d] * shape[d]) {
      cs[k] *= shape[d];
      ca[k] = sa[d];
      cb[k] = sb[d];
    } else {
      cs.push(shape[d]);
      ca.push(sa[d]);
      cb.push(sb[d]);
    }
  }
  return cs.length ? [cs, ca, cb] : [[1], [1], [1]];
}

function binaryInto(backend: tf.KernelBackend, op: number, a: Info, av: FArr, b: Info, bv: FArr): { shape: number[]; o: FArr } {
  const shape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
  const o = alloc(backend, size(shape));
  if (o.length) {
    const [cs, ca, cb] = coalesce(shape, broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape));
    E().binary(op, av, bv, o, cs, ca, cb);
  }
  return { shape, o };
}

function binary(op: number): Impl {
  return ({ inputs, backend }) => {
    const { a, b } = inputs;
    const av = values(backend, a), bv = values(backend, b);
    if (!av || !bv) return undefined;
    const { shape, o } = binaryInto(backend, op, a, av, b, bv);
    return out(backend, shape, o);
  };
}

const addN: Impl = ({ inputs, backend }) => {
  const ts = inputs as unknown as Info[];
  const vs = ts.map((t) => values(backend, t));
  if (!ts.length || vs.some((v) => !v) || ts.some((t) => t.shape.join() !== ts[0].shape.join())) return undefined;
  const o = alloc(backend, vs[0]!.length);
  o.set(vs[0]!);
  const shape = ts[0].shape.slice(), strides = broadcastStrides(shape, shape);
  for (let i = 1; i < vs.length; i++) if (o.length) E().binary(0, o, vs[i]!, o, shape, strides, strides);
  return out(backend, shape, o);
};

// ---------------------------------------------------------------------------------------------
// Reductions over one contiguous block of axes.

function reduction(op: number, axisAttr: string): Impl {
  return ({ inputs, backend, attrs }) => {
    const x = inputs.x;
    const xv = values(backend, x);
    if (!xv) return undefined;
    const axes = tf.util.parseAxisParam(attrs![axisAttr] as number | number[], x.shape).sort((p, q) => p - q);
    for (let i = 1; i < axes.length; i++) if (axes[i] !== axes[i - 1] + 1) return undefined;
    const r = x.shape.length;
    const lo = axes.length ? axes[0] : r, hi = axes.length ? axes[axes.length - 1] + 1 : r;
    const outer = size(x.shape.slice(0, lo)), mid = size(x.shape.slice(lo, hi)), inner = size(x.shape.slice(hi));
    if (mid === 0 && op !== 0) return undefined; // tfjs's own answer for max/min/mean of nothing
    const o = alloc(backend, outer * inner);
    E().reduce(op, xv, o, outer, mid, inner);
    const keep = attrs!.keepDims as boolean;
    const shape = x.shape.flatMap((d, i) => (i >= lo && i < hi ? (keep ? [1] : []) : [d]));
    return out(backend, shape, o);
  };
}

const transpose: Impl = ({ inputs, backend, attrs }) => {
  const x = inputs.x;
  const xv = values(backend, x);
  const perm = attrs!.perm as number[];
  if (!xv || x.shape.length === 0) return undefined;
  const o = alloc(backend, xv.length);
  E().transpose(xv, o, x.shape.slice(), perm.slice());
  return out(backend, perm.map((p) => x.shape[p]), o);
};

// Constant tensors (gradient seeds and accumulators): the cpu backend fills new arrays in JS loops.
function constantLike(value: number): Impl {
  return ({ inputs, backend }) => {
    const x = inputs.x;
    if (x.dtype !== 'float32') return undefined;
    const o = alloc(backend, size(x.shape));
    o.fill(value);
    return out(backend, x.shape.slice(), o);
  };
}
const fill: Impl = ({ backend, attrs }) => {
  const { shape, value, dtype } = attrs as { shape: number[]; value: number; dtype: string };
  if (dtype !== 'float32' || typeof value !== 'number') return undefined;
  const o = alloc(backend, size(shape));
  o.fill(value);
  return out(backend, shape.slice(), o);
};

// ---------------------------------------------------------------------------------------------
// Matrix products.

interface Product { shape: number[]; o: FArr }

function matmul(backend: tf.KernelBackend, a: Info, av: FArr, b: Info, bv: FArr, ta: boolean, tb: boolean): Product | undefined {
  const ra = a.shape.length, rb = b.shape.length;
  if (ra < 2 || rb < 2) return undefined;
  const m = ta ? a.shape[ra - 1] : a.shape[ra - 2], k = ta ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = tb ? b.shape[rb - 1] : b.shape[rb - 2], n = tb ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) {
    throw new Error(`petscml backend: BatchMatMul: inner dimensions differ: a [${a.shape}]${ta ? ' (transposed)' : ''}, b [${b.shape}]${tb ? ' (transposed)' : ''}, float32`);
  }
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  const na = size(batchA), nb = size(batchB);
  // Equal batch shapes, or one side a single matrix; other broadcasts go to the cpu backend.
  const same = batchA.length === batchB.length && batchA.every((d, i) => d === batchB[i]);
  if (!same && na !== 1 && nb !== 1) return undefined;
  const batch = tf.backend_util.assertAndGetBroadcastShape(batchA, batchB);
  const o = alloc(backend, size(batch) * m * n);
  if (o.length) E().matmul(av, bv, o, na === 1 ? 1 : size(batch), nb === 1 ? 1 : size(batch), m, n, k, ta, tb);
  return { shape: [...batch, m, n], o };
}

const batchMatMul: Impl = ({ inputs, backend, attrs }) => {
  const { a, b } = inputs;
  const av = values(backend, a), bv = values(backend, b);
  if (!av || !bv) return undefined;
  const p = matmul(backend, a, av, b, bv, !!attrs!.transposeA, !!attrs!.transposeB);
  return p && out(backend, p.shape, p.o);
};

const FUSED_ACTIVATION: Record<string, number | null> = { linear: null, relu: UNARY.Relu, elu: UNARY.Elu, sigmoid: UNARY.Sigmoid };

const fusedMatMul: Impl = ({ inputs, backend, attrs }) => {
  const { a, b, bias, preluActivationWeights } = inputs as Record<string, Info | undefined>;
  const activation = (attrs!.activation as string | undefined) ?? 'linear';
  if (preluActivationWeights || !(activation in FUSED_ACTIVATION)) return undefined;
  const av = values(backend, a!), bv = values(backend, b!), biasv = bias ? values(backend, bias) : undefined;
  if (!av || !bv || (bias && !biasv)) return undefined;
  const p = matmul(backend, a!, av, b!, bv, !!attrs!.transposeA, !!attrs!.transposeB);
  if (!p) return undefined;
  let { shape, o } = p;
  if (bias) {
    const outInfo = { shape, dtype: 'float32' } as Info;
    ({ shape, o } = binaryInto(backend, 0, outInfo, o, bias, biasv!));
  }
  const act = FUSED_ACTIVATION[activation];
  if (act !== null && o.length) E().unary(act, o, o, o.length);
  return out(backend, shape, o);
};

// ---------------------------------------------------------------------------------------------
// Copies: Slice, PadV2 and Tile as block copies over the longest contiguous runs. These need no
// C++: a typed-array copy of a run is a memcpy. The cpu backend's versions index element by
// element through a TensorBuffer (3.2 s for one time-axis crop of an FNO-3D batch, against
// milliseconds here).

const rowStrides = (shape: readonly number[]): number[] => {
  const st = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) { st[d] = s; s *= shape[d]; }
  return st;
};

/** Copies the box `box` at `from` in src (shape sShape) to `to` in dst (shape dShape). */
function copyBox(src: FArr, sShape: readonly number[], from: readonly number[],
  dst: FArr, dShape: readonly number[], to: readonly number[], box: readonly number[]): void {
  const rank = box.length;
  if (box.some((n) => n === 0)) return;
  const ss = rowStrides(sShape), ds = rowStrides(dShape);
  // Trailing axes the box spans whole in both arrays join the innermost run.
  let run = 1;
  let outer = rank - 1;
  while (outer >= 0) {
    run *= box[outer];
    const whole = box[outer] === sShape[outer] && box[outer] === dShape[outer];
    outer--;
    if (!whole) break;
  }
  let sBase = 0, dBase = 0;
  for (let d = 0; d < rank; d++) { sBase += from[d] * ss[d]; dBase += to[d] * ds[d]; }
  const idx = new Array<number>(outer + 1).fill(0);
  for (;;) {
    let so = sBase, dO = dBase;
    for (let d = 0; d <= outer; d++) { so += idx[d] * ss[d]; dO += idx[d] * ds[d]; }
    if (run >= 16) dst.set(src.subarray(so, so + run) as ArrayLike<number>, dO);
    else for (let k = 0; k < run; k++) dst[dO + k] = src[so + k];
    let d = outer;
    while (d >= 0 && ++idx[d] === box[d]) idx[d--] = 0;
    if (d < 0) return;
  }
}

const slice: Impl = ({ inputs, backend, attrs }) => {
  const x = inputs.x;
  const xv = values(backend, x);
  if (!xv) return undefined;
  const [begin, sz] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, attrs!.begin as number[], attrs!.size as number[]);
  tf.slice_util.assertParamsValid(x as unknown as tf.Tensor, begin, sz);
  const o = alloc(backend, size(sz));
  copyBox(xv, x.shape, begin, o, sz, sz.map(() => 0), sz);
  return out(backend, sz.slice(), o);
};

const padV2: Impl = ({ inputs, backend, attrs }) => {
  const x = inputs.x;
  const xv = values(backend, x);
  if (!xv) return undefined;
  const paddings = attrs!.paddings as [number, number][];
  const shape = x.shape.map((n, d) => paddings[d][0] + n + paddings[d][1]);
  const o = alloc(backend, size(shape));
  o.fill((attrs!.constantValue as number) ?? 0);
  copyBox(xv, x.shape, x.shape.map(() => 0), o, shape, paddings.map((p) => p[0]), x.shape);
  return out(backend, shape, o);
};

const tile: Impl = ({ inputs, backend, attrs }) => {
  const x = inputs.x;
  const xv = values(backend, x);
  if (!xv) return undefined;
  const reps = attrs!.reps as number[];
  if (reps.length !== x.shape.length) return undefined;
  const shape = x.shape.map((n, d) => n * reps[d]);
  const o = alloc(backend, size(shape));
  if (o.length === 0) return out(backend, shape, o);
  const zero = x.shape.map(() => 0);
  const t = reps.map(() => 0);
  for (;;) {
    copyBox(xv, x.shape, zero, o, shape, t.map((r, d) => r * x.shape[d]), x.shape);
    let d = reps.length - 1;
    while (d >= 0 && ++t[d] === reps[d]) t[d--] = 0;
    if (d < 0) break;
  }
  return out(backend, shape, o);
};

// ---------------------------------------------------------------------------------------------
// Kernels native on petscml-float64 only (where the alternative is refusal): on petscml they
// return undefined and the cpu backend's implementation runs, as before, so float32 results are
// unchanged by their existence.

const isF64 = (backend: tf.KernelBackend) => (backend as PetscmlBackend).f64;

const step: Impl = ({ inputs, backend, attrs }) => {
  const x = inputs.x;
  const xv = isF64(backend) ? values(backend, x) : undefined;
  const alpha = (attrs?.alpha as number | undefined) ?? 0;
  if (!xv) return undefined;
  const o = alloc(backend, xv.length);
  // tfjs: x > 0 ? 1 : alpha, NaN stays NaN.
  for (let i = 0; i < xv.length; i++) { const v = xv[i]; o[i] = v > 0 ? 1 : v !== v ? v : alpha; }
  return out(backend, x.shape.slice(), o);
};

// where(condition, t, e) on float64 data (the cpu backend's makes a Float32Array). tf.where
// broadcasts the condition to t's shape first; a Select kernel run otherwise is refused, by name.
const select: Impl = ({ inputs, backend }) => {
  const { condition: c, t, e } = inputs;
  const tv = isF64(backend) ? values(backend, t) : undefined, ev = tv && values(backend, e);
  const cv = (backend as MathBackendCPU).data.get(c.dataId)?.values as ArrayLike<number> | undefined;
  if (!tv || !ev || !cv || c.dtype !== 'bool' || !tf.util.arraysEqual(t.shape, e.shape)) return undefined;
  const n = tv.length;
  if (cv.length !== n || !tf.util.arraysEqual(c.shape, t.shape)) return undefined;
  const o = alloc(backend, n);
  for (let i = 0; i < n; i++) o[i] = cv[i] ? tv[i] : ev[i];
  return out(backend, t.shape.slice(), o);
};

// The piecewise-linear activations on float64 data (the cpu backend's make Float32Arrays), with
// the cpu backend's formulas: NaN stays NaN.
const pointwiseF64 = (f: (v: number, attrs?: tf.NamedAttrMap) => number): Impl => ({ inputs, backend, attrs }) => {
  const x = inputs.x;
  const xv = isF64(backend) ? values(backend, x) : undefined;
  if (!xv) return undefined;
  const o = alloc(backend, xv.length);
  for (let i = 0; i < xv.length; i++) o[i] = f(xv[i], attrs);
  return out(backend, x.shape.slice(), o);
};
// Reverse on float64 data (the cpu backend's copies through a float32 buffer).
const reverse: Impl = ({ inputs, backend, attrs }) => {
  const x = inputs.x;
  const xv = isF64(backend) ? values(backend, x) : undefined;
  if (!xv) return undefined;
  const shape = x.shape, rank = shape.length;
  const dims = new Set(tf.util.parseAxisParam(attrs!.dims as number | number[], shape));
  const strides = tf.util.computeStrides(shape);
  const o = alloc(backend, xv.length);
  const idx = new Array<number>(rank).fill(0);
  for (let i = 0; i < xv.length; i++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += (dims.has(d) ? shape[d] - 1 - idx[d] : idx[d]) * (d < rank - 1 ? strides[d] : 1);
    o[i] = xv[src];
    for (let d = rank - 1; d >= 0; d--) { if (++idx[d] < shape[d]) break; idx[d] = 0; }
  }
  return out(backend, shape.slice(), o);
};
// gather(x, indices, axis) on float64 data (the cpu backend's copies through a float32 buffer);
// batchDims > 0 is refused there, by name. Indices are checked as the cpu backend checks them.
const gatherV2: Impl = ({ inputs, backend, attrs }) => {
  const { x, indices } = inputs;
  const xv = isF64(backend) ? values(backend, x) : undefined;
  const iv = (backend as MathBackendCPU).data.get(indices.dataId)?.values as ArrayLike<number> | undefined;
  if (!xv || !iv || indices.dtype !== 'int32' || ((attrs!.batchDims as number | undefined) ?? 0) !== 0) return undefined;
  const axis = tf.util.parseAxisParam(attrs!.axis as number, x.shape)[0];
  const dim = x.shape[axis], outer = size(x.shape.slice(0, axis)), inner = size(x.shape.slice(axis + 1));
  for (let j = 0; j < iv.length; j++) {
    if (!(iv[j] >= 0 && iv[j] <= dim - 1)) throw new Error(`GatherV2: the index value ${iv[j]} is not in [0, ${dim - 1}]`);
  }
  const o = alloc(backend, outer * iv.length * inner);
  for (let a = 0, k = 0; a < outer; a++) {
    for (let j = 0; j < iv.length; j++, k += inner) o.set(xv.subarray((a * dim + iv[j]) * inner, (a * dim + iv[j] + 1) * inner), k);
  }
  return out(backend, [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)], o);
};

// unsortedSegmentSum(x, ids, n) on float64 data, ids one per row of x (GatherV2's gradient): each
// segment adds its rows in order; rows with an id outside [0, n) are dropped, as in TensorFlow.
const unsortedSegmentSum: Impl = ({ inputs, backend, attrs }) => {
  const { x, segmentIds } = inputs;
  const xv = isF64(backend) ? values(backend, x) : undefined;
  const sv = (backend as MathBackendCPU).data.get(segmentIds.dataId)?.values as ArrayLike<number> | undefined;
  if (!xv || !sv || segmentIds.shape.length !== 1 || x.shape.length < 1 || sv.length !== x.shape[0]) return undefined;
  const n = attrs!.numSegments as number, inner = size(x.shape.slice(1));
  const o = alloc(backend, n * inner);
  o.fill(0);
  for (let r = 0; r < sv.length; r++) {
    const s = sv[r];
    if (!(s >= 0 && s < n)) continue;
    for (let i = 0; i < inner; i++) o[s * inner + i] += xv[r * inner + i];
  }
  return out(backend, [n, ...x.shape.slice(1)], o);
};
// split(x, sizes, axis) on float64 data (concat's gradient), with tfjs's split sizes (-1: the rest).
const splitV: Impl = ({ inputs, backend, attrs }) => {
  const x = inputs.x;
  const xv = isF64(backend) ? values(backend, x) : undefined;
  if (!xv) return undefined;
  const axis = tf.util.parseAxisParam(attrs!.axis as number, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, attrs!.numOrSizeSplits as number | number[], axis);
  const outs: Info[] = [];
  let begin = 0;
  for (const len of sizes) {
    const shape = x.shape.map((d, i) => (i === axis ? len : d));
    const o = alloc(backend, size(shape));
    copyBox(xv, x.shape, x.shape.map((_, i) => (i === axis ? begin : 0)), o, shape, shape.map(() => 0), shape);
    outs.push(out(backend, shape, o));
    begin += len;
  }
  return outs;
};
const leakyRelu = pointwiseF64((v, attrs) => (v < 0 ? (attrs!.alpha as number) * v : v));
const relu6 = pointwiseF64((v) => Math.min(Math.max(0, v), 6));

const softmax: Impl = ({ inputs, backend, attrs }) => {
  const x = inputs.logits;
  const xv = isF64(backend) ? values(backend, x) : undefined;
  const dim = (attrs?.dim as number | undefined) ?? -1;
  if (!xv || x.shape.length === 0 || (dim !== -1 && dim !== x.shape.length - 1)) return undefined;
  const n = x.shape[x.shape.length - 1];
  const o = alloc(backend, xv.length);
  for (let r = 0; r < xv.length; r += n) {
    let m = -Infinity;
    for (let j = 0; j < n; j++) m = Math.max(m, xv[r + j]);
    let sum = 0;
    for (let j = 0; j < n; j++) { const e = Math.exp(xv[r + j] - m); o[r + j] = e; sum += e; }
    for (let j = 0; j < n; j++) o[r + j] /= sum;
  }
  return out(backend, x.shape.slice(), o);
};

const concat: Impl = ({ inputs, backend, attrs }) => {
  const ts = (inputs as unknown as Info[]).filter((t) => size(t.shape) > 0);
  if (!isF64(backend) || !ts.length) return undefined;
  const vs = ts.map((t) => values(backend, t));
  if (vs.some((v) => !v)) return undefined;
  const rank = ts[0].shape.length;
  const axis = tf.util.parseAxisParam(attrs!.axis as number, ts[0].shape)[0];
  const shape = ts[0].shape.slice();
  shape[axis] = ts.reduce((a, t) => a + t.shape[axis], 0);
  const o = alloc(backend, size(shape));
  let at = 0;
  ts.forEach((t, i) => {
    const to = new Array<number>(rank).fill(0);
    to[axis] = at;
    copyBox(vs[i]!, t.shape, t.shape.map(() => 0), o, shape, to, t.shape);
    at += t.shape[axis];
  });
  return out(backend, shape, o);
};

const unpack: Impl = ({ inputs, backend, attrs }) => {
  const x = inputs.value;
  const xv = isF64(backend) ? values(backend, x) : undefined;
  if (!xv) return undefined;
  const axis = tf.util.parseAxisParam(attrs!.axis as number, x.shape)[0];
  const piece = x.shape.map((d, i) => (i === axis ? 1 : d));
  const outShape = x.shape.filter((_, i) => i !== axis);
  const outs: Info[] = [];
  for (let k = 0; k < x.shape[axis]; k++) {
    const from = x.shape.map((_, i) => (i === axis ? k : 0));
    const o = alloc(backend, size(outShape));
    copyBox(xv, x.shape, from, o, piece, piece.map(() => 0), piece);
    outs.push(out(backend, outShape.slice(), o));
  }
  return outs;
};

const pack: Impl = ({ inputs, backend, attrs }) => {
  const ts = inputs as unknown as Info[];
  if (!isF64(backend) || !ts.length) return undefined;
  const vs = ts.map((t) => values(backend, t));
  if (vs.some((v) => !v) || ts.some((t) => t.shape.join() !== ts[0].shape.join())) return undefined;
  const axis = tf.util.parseAxisParam(attrs!.axis as number, [...ts[0].shape, 1])[0];
  const piece = [...ts[0].shape.slice(0, axis), 1, ...ts[0].shape.slice(axis)];
  const shape = piece.map((d, i) => (i === axis ? ts.length : d));
  const o = alloc(backend, size(shape));
  ts.forEach((_, k) => copyBox(vs[k]!, piece, piece.map(() => 0), o, shape, piece.map((__, i) => (i === axis ? k : 0)), piece));
  return out(backend, shape, o);
};

const eluGrad: Impl = ({ inputs, backend }) => {
  const { dy, y } = inputs;
  const dv = isF64(backend) ? values(backend, dy) : undefined, yv = isF64(backend) ? values(backend, y) : undefined;
  if (!dv || !yv || dv.length !== yv.length) return undefined;
  const o = alloc(backend, dv.length);
  // tfjs: y >= 0 ? dy : dy * (y + 1)
  for (let i = 0; i < dv.length; i++) o[i] = yv[i] >= 0 ? dv[i] : dv[i] * (yv[i] + 1);
  return out(backend, dy.shape.slice(), o);
};

// ---------------------------------------------------------------------------------------------
// Registration.

const NATIVE: Record<string, Impl> = {
  BatchMatMul: batchMatMul,
  _FusedMatMul: fusedMatMul,
  AddN: addN,
  Transpose: transpose,
  Slice: slice,
  PadV2: padV2,
  Tile: tile,
  ZerosLike: constantLike(0),
  OnesLike: constantLike(1),
  Fill: fill,
  Sum: reduction(0, 'axis'),
  Max: reduction(1, 'reductionIndices'),
  Min: reduction(2, 'axis'),
  Mean: reduction(3, 'axis'),
  Step: step,
  Select: select,
  LeakyRelu: leakyRelu,
  Reverse: reverse,
  GatherV2: gatherV2,
  SplitV: splitV,
  UnsortedSegmentSum: unsortedSegmentSum,
  Relu6: relu6,
  Softmax: softmax,
  Concat: concat,
  Unpack: unpack,
  Pack: pack,
  EluGrad: eluGrad,
  ...Object.fromEntries(Object.entries(UNARY).map(([k, op]) => [k, unary(op)])),
  ...Object.fromEntries(Object.entries(BINARY).map(([k, op]) => [k, binary(op)])),
};

/** The kernels the engine implements natively (some cases of them may still fall back). */
export const NATIVE_KERNELS: readonly string[] = Object.keys(NATIVE).sort();

let registered = false;

/**
 * Kernels the cpu backend may run on float64 data: they move no float values through arithmetic
 * (a reshape shares its input's data; casts to and from integers are exact both ways for the
 * values they carry). Every other kernel on petscml-float64 is native or throws.
 */
const DATA_FREE = new Set(['Reshape', 'Identity', 'ExpandDims', 'Squeeze', 'Cast']);
/**
 * Kernels whose cpu implementations read float operands as the numbers they hold (a double stays
 * a double) and make boolean outputs: comparisons and classifications are exact on float64 data
 * there. The masks of piecewise functions (where(x > 0, ...), clamps) and their gradients need them.
 */
const EXACT_ON_DOUBLES = new Set(['Greater', 'GreaterEqual', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'IsNan', 'IsInf', 'IsFinite']);

function float64Refusal(name: string, inputs: Record<string, Info>): Error {
  const ins = Object.entries(inputs ?? {}).filter(([, t]) => t).map(([k, t]) => `${k} ${t.dtype} [${t.shape.join(', ')}]`).join(', ');
  return new Error(`petscml: float64: the ${name} kernel has no float64 implementation for these operands (${ins || 'no inputs'}); ` +
    `petscml does not compute part of a float64 model in float32. Use precision 'float32' for this model, or a form of it made of ` +
    `the kernels in NATIVE_KERNELS (the ${name} kernel is named in this message so that it can be added)`);
}

/**
 * The number of threads the petscml engine computes on (the JS thread included), or with `n`, sets
 * it and returns the count in effect (at most 64). A process starts with PETSCML_NUM_THREADS,
 * else OPENBLAS_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs it may run on (under mpirun, those
 * it was bound to), divided among the MPI ranks on its node. Results do not depend on the count:
 * every kernel splits its work so that each output is computed in the same order (products by
 * rows on OpenBLAS's block boundaries, sums in fixed blocks).
 */
export function engineThreads(n?: number): number {
  if (n === undefined) return E().threads();
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new Error(`petscml: engineThreads: the thread count must be a whole number >= 1, got ${String(n)}`);
  }
  return E().setThreads(n);
}

/**
 * The kernel family OpenBLAS runs the engine's products on ("Haswell", "SkylakeX", "Cooperlake",
 * ...: its own choice for this CPU, or OPENBLAS_CORETYPE's), or null when the BLAS behind PETSc is
 * not OpenBLAS. The family sets the speed of every product (bench/sgemm-core.js) and their last
 * bits.
 */
export function blasCore(): string | null {
  return E().blasCore();
}

function widened(backend: tf.KernelBackend, r: Info): Info {
  const cpu = backend as MathBackendCPU;
  const v = cpu.data.get(r.dataId)?.values;
  if (r.dtype !== 'float32' || !v || v instanceof Float64Array) return r;
  // A new array: the cpu backend's Cast from bool shares the input's data, which stays bool.
  const w = cpu.makeTensorInfo(r.shape, 'float32', Float64Array.from(v as ArrayLike<number>) as unknown as tf.backend_util.BackendValues);
  cpu.disposeIntermediateTensorInfo(r);
  return w;
}

/** Registers the backends with tfjs (once): each kernel of the cpu backend under each of them. */
export function registerPetscmlBackend(): void {
  if (registered) return;
  registered = true;
  tf.registerBackend(BACKEND_NAME, () => new PetscmlBackend(false), 0);
  tf.registerBackend(BACKEND_NAME_FLOAT64, () => new PetscmlBackend(true), -1);
  for (const k of tf.getKernelsForBackend('cpu')) {
    const fallback = k.kernelFunc as unknown as (args: Args) => Info | Info[];
    const name = k.kernelName;
    const impl = NATIVE[name];
    const viaCpu = (args: Args) => {
      const r = fallback(args);
      (args.backend as PetscmlBackend).forgetAliases(r, args.inputs);
      return r;
    };
    const floatIn = (args: Args) => Object.values(args.inputs ?? {}).some((t) => t?.dtype === 'float32');
    for (const f64 of [false, true]) {
      const other = (args: Args): [Info | Info[], keyof KernelCounts] => {
        if (f64 && !DATA_FREE.has(name)) {
          // A kernel of integer or boolean operands only still runs on the cpu backend unless it
          // makes float values (Range, OneHot...), which would come out of float32 arithmetic.
          if (floatIn(args) && !EXACT_ON_DOUBLES.has(name)) throw float64Refusal(name, args.inputs);
          const r = viaCpu(args);
          if ((Array.isArray(r) ? r : [r]).some((o) => o.dtype === 'float32')) throw float64Refusal(name, args.inputs);
          return [r, 'fallback'];
        }
        const r = viaCpu(args);
        // On float64, a Cast to float32 (a mask made a factor) comes back as the bool's own bytes
        // or a Float32Array, which the native kernels do not take: its values are exact in double.
        return [f64 && name === 'Cast' && !Array.isArray(r) ? widened(args.backend, r) : r, 'fallback'];
      };
      const run = impl
        ? (args: Args): [Info | Info[], keyof KernelCounts] => {
          const r = impl(args);
          return r !== undefined ? [r, 'native'] : other(args);
        }
        : other;
      const label = f64 ? `${name} (float64)` : name;
      const kernelFunc = tracing
        ? (args: Args) => {
          const t0 = performance.now();
          const [r, how] = run(args);
          count(label, how).ms += performance.now() - t0;
          return r;
        }
        : (args: Args) => {
          const [r, how] = run(args);
          count(label, how);
          return r;
        };
      tf.registerKernel({ ...k, backendName: f64 ? BACKEND_NAME_FLOAT64 : BACKEND_NAME, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
    }
  }
  if (tracing) {
    process.on('exit', () => {
      const r = kernelReport();
      const { nativeShare } = summarizeKernels(r);
      const lines = Object.entries(r).sort(([, a], [, b]) => b.ms - a.ms)
        .map(([k, c]) => `  ${k.padEnd(24)} native ${String(c.native).padStart(9)}  fallback ${String(c.fallback).padStart(9)}  ${c.ms.toFixed(1).padStart(9)} ms`);
      process.stderr.write(`petscml: kernels on the ${BACKEND_NAME} backend (${(100 * nativeShare).toFixed(1)}% of calls native):\n${lines.join('\n')}\n`);
    });
  }
}
