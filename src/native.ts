/**
 * The one place the addon is loaded, and the one interface that types every native export.
 * Users never touch the `.node`; src/petsc wraps it with validation.
 */
import * as path from 'path';

export type NativeComm = 'self' | 'world';

export interface NativeObject {
  destroy(): void;
  isDestroyed(): boolean;
  getOptionsPrefix(): string | null;
  getType(): string | null;
  getCommSize(): number;
  /** The PETSc object's address, 0 once destroyed. */
  getId(): number;
  /** Drops this wrapper's reference (another wrapper of the same object holds one). */
  dropReference?(): void;
}

export interface NativeVec extends NativeObject {
  getSize(): number;
  getLocalSize(): number;
  getOwnershipRange(): [number, number];
  set(alpha: number): this;
  setValues(indices: Int32Array | Float64Array, values: Float64Array, add: boolean): this;
  getValues(indices: Int32Array): Float64Array;
  toArray(): Float64Array;
  setArray(a: Float64Array): this;
  withArray<T>(fn: (a: Float64Array) => T): T;
  duplicate(): NativeVec;
  copy(dst: NativeVec): NativeVec;
  norm(type: '1' | '2' | 'inf'): number;
  dot(other: NativeVec): number;
  axpy(alpha: number, x: NativeVec): this;
  aypx(alpha: number, x: NativeVec): this;
  scale(alpha: number): this;
  sum(): number;
  gatherAll(): Float64Array;
}

export type ArrayCallback2 = (x: Float64Array, y: Float64Array) => void;

export interface NativeMat extends NativeObject {
  getSize(): [number, number];
  getLocalSize(): [number, number];
  setCallback(name: 'mult' | 'multTranspose', fn: ArrayCallback2 | null): this;
  setCallback(name: 'getDiagonal', fn: ((d: Float64Array) => void) | null): this;
  mult(x: NativeVec, y: NativeVec): NativeVec;
  multTranspose(x: NativeVec, y: NativeVec): NativeVec;
  getDiagonal(d: NativeVec): NativeVec;
  getMultCount(): number;
  setReplicated(on: boolean): this;
}

export interface NativePC extends NativeObject {
  setType(type: string): this;
  setShellApply(fn: ArrayCallback2): this;
}

export interface NativeKSP extends NativeObject {
  setType(type: string): this;
  setOptionsPrefix(prefix: string | null): this;
  setFromOptions(): this;
  setOperators(A: NativeMat, P?: NativeMat | null): this;
  setTolerances(rtol: number, atol: number, divtol: number, maxIts: number): this;
  getTolerances(): { rtol: number; atol: number; divtol: number; maxIts: number };
  getPC(): NativePC;
  solve(b: NativeVec, x: NativeVec): NativeVec;
  getIterationNumber(): number;
  getConvergedReason(): { code: number; name: string };
  getResidualNorm(): number;
}

export interface NativeTaoStatus {
  iteration: number;
  f: number;
  gnorm: number;
  cnorm: number;
  xdiff: number;
  reason: number;
  reasonName: string;
  trustRadius: number;
  stepLength?: number;
  kspIterations: number;
}

export interface NativeTaoCounts {
  objective: number;
  gradient: number;
  objectiveAndGradient: number;
  hessian: number;
  update: number;
  hessianMult: number;
  kspIterations: number;
  iterations: number;
}

export interface NativeTao extends NativeObject {
  setType(type: string): this;
  setOptionsPrefix(prefix: string | null): this;
  setFromOptions(): this;
  setSolution(x: NativeVec): this;
  getSolution(): NativeVec | null;
  setCallback(name: 'objective', fn: ((x: Float64Array) => number) | null): this;
  setCallback(name: 'gradient', fn: ArrayCallback2 | null): this;
  setCallback(name: 'objectiveAndGradient', fn: ((x: Float64Array, g: Float64Array) => number) | null): this;
  setCallback(name: 'update', fn: ((iteration: number) => void) | null): this;
  setCallback(name: 'monitor', fn: ((status: NativeTaoStatus) => void) | null): this;
  setHessian(H: NativeMat, fn: ((x: Float64Array) => void) | null): this;
  setVariableBounds(lb: NativeVec, ub: NativeVec): this;
  setTolerances(gatol: number, grtol: number, gttol: number): this;
  getTolerances(): { gatol: number; grtol: number; gttol: number };
  setMaximumIterations(n: number): this;
  setMaximumFunctionEvaluations(n: number): this;
  setObjectiveReduction(mode: 'sum' | 'none'): this;
  setAllowNonFinite(on: boolean): this;
  setReplicated(on: boolean): this;
  getKSP(): NativeKSP | null;
  solve(): NativeTaoStatus;
  solveAsync(): Promise<NativeTaoStatus>;
  getStatus(): NativeTaoStatus;
  getCounts(): NativeTaoCounts;
  isSolving(): boolean;
  /** Ends the running solve at its next iteration boundary (reason CONVERGED_USER). */
  stop(): void;
  getFirstOrderState(): FirstOrderState | undefined;
  setFirstOrderResume(step: number, power1: number, power2: number, m: Float64Array, v: Float64Array | null): void;
  lmvmUpdateCount(): number;
  getGradientArray(): Float64Array | null;
  getMaximumIterations(): number;
  replayLMVM(points: Float64Array[]): number;
}

/** adam, adamw and sgd at the start of a step: the moments as this rank's blocks. */
export interface FirstOrderState {
  step: number;
  power1: number;
  power2: number;
  m: Float64Array;
  /** Null for sgd. */
  v: Float64Array | null;
}

export interface NativeReplicationStats {
  gathers: number;
  gatheredDoubles: number;
  reductions: number;
  reducedDoubles: number;
  /** Small reductions: objective values and failure flags. */
  scalarReductions: number;
}

/** The compute kernels of the petscml tfjs backend (native/engine.cc). */
export interface NativeEngine {
  matmul(a: Float32Array | Float64Array, b: Float32Array | Float64Array, out: Float32Array | Float64Array,
    batchA: number, batchB: number, m: number, n: number, k: number, transA: boolean, transB: boolean): void;
  unary(op: number, x: Float32Array | Float64Array, out: Float32Array | Float64Array, n: number): void;
  binary(op: number, a: Float32Array | Float64Array, b: Float32Array | Float64Array, out: Float32Array | Float64Array,
    shape: number[], aStrides: number[], bStrides: number[]): void;
  reduce(op: number, x: Float32Array | Float64Array, out: Float32Array | Float64Array, outer: number, mid: number, inner: number): void;
  transpose(x: Float32Array | Float64Array, out: Float32Array | Float64Array, shape: number[], perm: number[]): void;
  /**
   * The engine's thread count (the calling thread included; OpenBLAS itself runs on one): products
   * are split by rows and large elementwise work by ranges across them. Returns the count.
   */
  setThreads(n: number): number;
  /** The engine's thread count now. */
  threads(): number;
  /** OpenBLAS's name for the kernel family it runs ("Haswell", "SkylakeX", ...); null for another BLAS. */
  blasCore(): string | null;
}

export interface NativeAddon {
  engine: NativeEngine;
  initialize(argv: string[]): { rank: number; size: number };
  finalize(): void;
  /** At process exit: ends the job on an error exit or an exit inside a callback, else waits (bounded) for the other ranks and finalizes. */
  exitFinalize(code: number): void;
  abort(code: number): void;
  state(): { initialized: boolean; finalized: boolean };
  /** Bytes in use on the C heap (glibc), for leak checks: RSS keeps freed pages. */
  nativeMemory(): { heapInUse?: number };
  /** Collective on PETSC_COMM_WORLD: destroys the distributed objects that every rank has dropped. */
  collectGarbage(): void;
  version(): { major: number; minor: number; subminor: number; text: string; scalarBytes: number; indexBytes: number };
  setErrorClass(ctor: new (message: string) => Error, interrupted?: new (message: string) => Error): void;
  /** Collectives issued by replicated callbacks (counts and vector lengths, in doubles). */
  replication(opts?: { reset?: boolean; reduce?: 'reduce-scatter' | 'allreduce' }): NativeReplicationStats;
  /** In-place element-wise reduction over PETSC_COMM_WORLD (collective). */
  allreduce(values: Float64Array, op: 'sum' | 'min' | 'max'): Float64Array;
  /** Sizes: null = PETSc decides. Validated (32-bit PetscInt) and agreed on by every rank of 'world'. */
  Vec: new (comm: NativeComm, localSize: number | null, globalSize: number | null) => NativeVec;
  Mat: new (comm: NativeComm, m: number | null, n: number | null, M: number | null, N: number | null) => NativeMat;
  KSP: new (comm: NativeComm) => NativeKSP;
  PC: new (comm: NativeComm) => NativePC;
  Tao: new (comm: NativeComm) => NativeTao;
  options: {
    setValue(name: string, value: string | null): void;
    getValue(name: string): string | null;
    clearValue(name: string): void;
    insertString(s: string): void;
    getAll(): string;
    /** Whether PETSc has read the option since it was set (what -options_left reports). */
    used(name: string): boolean;
  };
}

/** Explains a failed load in terms of what the user can do about it. */
function explainLoadFailure(err: Error): string {
  const msg = err.message;
  const lines = [`petscml: the native addon could not be loaded: ${msg}`, 'Possible solutions:'];
  if (/Could not locate the bindings file|Cannot find module/.test(msg)) {
    lines.push('- The addon is not built. Run `npm run build:native` (needs cmake, a C++ compiler, PETSc and MPI).');
    lines.push('- On Debian 12: `bash scripts/setup.sh` installs petsc-dev, Open MPI and builds everything.');
  } else if (/libpetsc/.test(msg)) {
    lines.push("- PETSc's shared library was not found at run time. Install it (Debian: apt-get install petsc-dev),");
    lines.push('  or for your own PETSc build add $PETSC_DIR/$PETSC_ARCH/lib to LD_LIBRARY_PATH and rebuild with PETSC_DIR/PETSC_ARCH set.');
  } else if (/libmpi/.test(msg)) {
    lines.push('- The MPI library was not found. Install Open MPI (Debian: apt-get install openmpi-bin libopenmpi-dev)');
    lines.push('  or add the lib directory of the MPI that PETSc was built with to LD_LIBRARY_PATH.');
  } else if (/NODE_MODULE_VERSION|was compiled against a different Node/.test(msg)) {
    lines.push('- The addon was built for another Node.js version. Rebuild it: `npm run build:native`.');
  } else if (/undefined symbol/.test(msg)) {
    lines.push('- The addon was built against another PETSc or MPI than the one found now. Rebuild: `npm run build:native`.');
  } else {
    lines.push('- Rebuild the addon with `npm run build:native` and check its output.');
  }
  return lines.join('\n');
}

let addon: NativeAddon | undefined;

/**
 * Under a finite address-space limit (ulimit -v), OpenBLAS's threaded start-up and fork handlers
 * made Open MPI's singleton start spin forever inside PetscInitialize. One OpenBLAS thread avoids
 * it; it must be in the environment before the addon (and with it OpenBLAS) is loaded. A thread
 * count the user chose is kept. Returns whether it set one.
 */
function limitBlasThreadsUnderRlimit(): boolean {
  if (process.platform !== 'linux' || process.env.OPENBLAS_NUM_THREADS !== undefined) return false;
  let limits: string;
  try {
    limits = require('fs').readFileSync('/proc/self/limits', 'utf8') as string;
  } catch {
    return false;
  }
  const line = limits.split('\n').find((l) => l.startsWith('Max address space'));
  const soft = line?.slice('Max address space'.length).trim().split(/\s+/)[0];
  if (soft === undefined || soft === 'unlimited') return false;
  process.env.OPENBLAS_NUM_THREADS = '1';
  process.env.PETSCML_BLAS_THREADS_FORCED = '1'; // read by the engine (native/engine.cc InitialThreads)
  return true;
}

export function native(): NativeAddon {
  if (addon) return addon;
  const forced = limitBlasThreadsUnderRlimit();
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const bindings = require('bindings') as (opts: { bindings: string; module_root: string }) => unknown;
    addon = bindings({ bindings: 'petscml', module_root: path.join(__dirname, '..') }) as NativeAddon;
  } catch (err) {
    const e = new Error(explainLoadFailure(err as Error));
    (e as Error & { cause?: unknown }).cause = err;
    throw e;
  } finally {
    // The variable was for OpenBLAS's start only (its own threads are not used): the engine's
    // threads and child processes go by the user's settings.
    if (forced) {
      delete process.env.OPENBLAS_NUM_THREADS;
      delete process.env.PETSCML_BLAS_THREADS_FORCED;
    }
  }
  return addon;
}
