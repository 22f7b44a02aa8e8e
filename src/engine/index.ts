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
  private readonly pool = new Map<number, Float32Array[]>();
  private pooledBytes = 0;
  private readonly reusable = new WeakSet<ArrayBufferLike>();
  private readonly made = new WeakSet<Float32Array>(); // the array objects alloc() made

  constructor() {
    super();
    // The cpu backend's first tensor prints an advert for tfjs-node; this is not the cpu backend.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  /** An output array of n elements, its contents undefined (every native kernel writes all of it). */
  alloc(n: number): Float32Array {
    const a = n >= POOL_MIN ? this.pool.get(n)?.pop() : undefined;
    if (a) {
      this.pooledBytes -= a.byteLength;
      return a;
    }
    const b = new Float32Array(n);
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
      const v = this.data.get(o.dataId)?.values as Float32Array | undefined;
      if (v?.buffer && this.reusable.has(v.buffer)) this.reusable.delete(v.buffer);
    }
  }

  private handOut(dataId: object): void {
    const v = this.data.get(dataId)?.values as Float32Array | undefined;
    if (v?.buffer) this.reusable.delete(v.buffer);
  }
  override readSync(dataId: object): tf.backend_util.BackendValues {
    this.handOut(dataId);
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
    if (freed && v instanceof Float32Array && this.made.has(v) && this.reusable.has(v.buffer) &&
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

function values(backend: tf.KernelBackend, t: Info): Float32Array | undefined {
  if (t.dtype !== 'float32') return undefined;
  const v = (backend as MathBackendCPU).data.get(t.dataId)?.values;
  return v instanceof Float32Array ? v : undefined;
}

const alloc = (backend: tf.KernelBackend, n: number): Float32Array => (backend as PetscmlBackend).alloc(n);

const out = (backend: tf.KernelBackend, shape: number[], v: Float32Array): Info =>
  (backend as MathBackendCPU).makeTensorInfo(shape, 'float32', v);

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

function binaryInto(backend: tf.KernelBackend, op: number, a: Info, av: Float32Array, b: Info, bv: Float32Array): { shape: number[]; o: Float32Array } {
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

interface Product { shape: number[]; o: Float32Array }

function matmul(backend: tf.KernelBackend, a: Info, av: Float32Array, b: Info, bv: Float32Array, ta: boolean, tb: boolean): Product | undefined {
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
function copyBox(src: Float32Array, sShape: readonly number[], from: readonly number[],
  dst: Float32Array, dShape: readonly number[], to: readonly number[], box: readonly number[]): void {
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
    if (run >= 16) dst.set(src.subarray(so, so + run), dO);
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
  ...Object.fromEntries(Object.entries(UNARY).map(([k, op]) => [k, unary(op)])),
  ...Object.fromEntries(Object.entries(BINARY).map(([k, op]) => [k, binary(op)])),
};

/** The kernels the engine implements natively (some cases of them may still fall back). */
export const NATIVE_KERNELS: readonly string[] = Object.keys(NATIVE).sort();

let registered = false;

/** Registers the backend with tfjs (once). Each kernel of the cpu backend is registered under it. */
export function registerPetscmlBackend(): void {
  if (registered) return;
  registered = true;
  // Ranks x OpenBLAS threads would exceed the cores: one thread per rank unless the user said.
  if (process.env.OMPI_COMM_WORLD_SIZE && Number(process.env.OMPI_COMM_WORLD_SIZE) > 1 &&
      process.env.OPENBLAS_NUM_THREADS === undefined && process.env.OMP_NUM_THREADS === undefined) {
    E().setThreads(1);
  }
  tf.registerBackend(BACKEND_NAME, () => new PetscmlBackend(), 0);
  for (const k of tf.getKernelsForBackend('cpu')) {
    const fallback = k.kernelFunc as unknown as (args: Args) => Info | Info[];
    const name = k.kernelName;
    const impl = NATIVE[name];
    const viaCpu = (args: Args) => {
      const r = fallback(args);
      (args.backend as PetscmlBackend).forgetAliases(r, args.inputs);
      return r;
    };
    const run = impl
      ? (args: Args): [Info | Info[], keyof KernelCounts] => {
        const r = impl(args);
        return r !== undefined ? [r, 'native'] : [viaCpu(args), 'fallback'];
      }
      : (args: Args): [Info | Info[], keyof KernelCounts] => [viaCpu(args), 'fallback'];
    const kernelFunc = tracing
      ? (args: Args) => {
        const t0 = performance.now();
        const [r, how] = run(args);
        count(name, how).ms += performance.now() - t0;
        return r;
      }
      : (args: Args) => {
        const [r, how] = run(args);
        count(name, how);
        return r;
      };
    tf.registerKernel({ ...k, backendName: BACKEND_NAME, kernelFunc: kernelFunc as unknown as tf.KernelFunc });
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
