/**
 * PETSc initialization for the whole process: from process.argv by default, so that
 * `node script.js -tao_type nls -tao_monitor` works as it does for a PETSc C program.
 * MPI is initialized by PETSc; under `mpirun -n N` each rank is one Node process.
 */
import { native, NativeAddon, NativeReplicationStats } from '../native';
import { argError, InterruptedError, PetscError } from './errors';
import { installCollective } from '../collective';

export interface InitOptions {
  /** Command-line arguments for PETSc (without the program name). Default: process.argv.slice(2). */
  args?: string[];
  /** Program name PETSc reports. Default: the script path. */
  program?: string;
}

export interface World {
  rank: number;
  size: number;
}

let world: World | undefined;

function onExit(n: NativeAddon, code: number): void {
  // With more than one rank, an error exit or an exit from inside a callback takes the whole job
  // down, and a normal exit waits a bounded time for the other ranks (PETSCML_EXIT_TIMEOUT):
  // a rank that waits in MPI_Finalize while another waits in a collective would hang mpirun.
  n.exitFinalize(code);
}

/** Initializes PETSc (and MPI) once; later calls return the same world. Options win over argv on first call only. */
export function initialize(opts: InitOptions = {}): World {
  if (world) return world;
  const n = native();
  n.setErrorClass(PetscError, InterruptedError);
  const program = opts.program ?? process.argv[1] ?? 'node';
  const args = opts.args ?? process.argv.slice(2);
  if (!Array.isArray(args) || args.some((a) => typeof a !== 'string')) {
    throw new TypeError('petscml: initialize: args must be an array of strings');
  }
  world = n.initialize([program, ...args]);
  process.on('exit', (code) => onExit(n, code));
  if (world.size > 1) {
    // The exit hook aborts the job before Node would print the exception: say it here, by rank.
    const rank = world.rank;
    process.on('uncaughtExceptionMonitor', (err) => {
      const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
      process.stderr.write(`petscml: uncaught exception on rank ${rank}: ${text}\n`);
    });
  }
  return world;
}

/** The native addon, initialized. Every class in src/petsc goes through this. */
export function petsc(): NativeAddon {
  if (!world) initialize();
  return native();
}

/** Finalizes PETSc now (it is also done automatically at exit). PETSc cannot be used afterwards. */
export function finalize(): void {
  native().finalize();
}

/**
 * Frees the distributed PETSc objects dropped without destroy() that every rank has collected.
 * Collective: call it on every rank. Each rank's garbage collector runs when it likes, so a
 * dropped 'world' object is only stashed, and destroyed once all ranks have stashed it; that also
 * happens on its own when a distributed Vec or ShellMat is created, at every solve and at finalize.
 * Objects on one process ('self') are freed at the next native call without this.
 */
export function collectGarbage(): void {
  petsc().collectGarbage();
}

export function isInitialized(): boolean {
  return native().state().initialized;
}

export function isFinalized(): boolean {
  return native().state().finalized;
}

/** MPI rank and size of PETSC_COMM_WORLD (initializes PETSc if needed). */
export function comm(): World {
  return world ?? initialize();
}

/** This process's rank in PETSC_COMM_WORLD (0 without mpirun). */
export function rank(): number {
  return comm().rank;
}

/** True on rank 0: the one rank that prints, logs and plots in a data-parallel run. */
export function isRoot(): boolean {
  return comm().rank === 0;
}

/** console.log on rank 0 only; the other ranks print nothing. */
export function rootLog(...args: unknown[]): void {
  if (isRoot()) console.log(...args);
}

/**
 * Element-wise sum (or min, max) of `values` over every rank of PETSC_COMM_WORLD, returned as a new
 * Float64Array on every rank. Collective: every rank must call it with the same length.
 */
export function allreduce(values: ArrayLike<number>, op: 'sum' | 'min' | 'max' = 'sum'): Float64Array {
  if (op !== 'sum' && op !== 'min' && op !== 'max') throw argError('allreduce: op', "'sum', 'min' or 'max'", op);
  if (values === null || typeof values !== 'object' || typeof (values as ArrayLike<number>).length !== 'number') {
    throw argError('allreduce: values', 'a Float64Array or an array of numbers', values);
  }
  const a = Float64Array.from(values);
  if (comm().size === 1) return a;
  return petsc().allreduce(a, op);
}

/**
 * Collectives issued so far by replicated (data-parallel) callbacks: full-vector gathers and
 * reductions with their lengths in doubles, and the small objective / failure-flag reductions.
 * `reset` zeroes the counters after reading them.
 */
export function replicationStats(opts: { reset?: boolean } = {}): NativeReplicationStats {
  return petsc().replication({ reset: opts.reset === true });
}

export function version(): { major: number; minor: number; subminor: number; text: string } {
  return native().version();
}

// The function layer's collectives come from here (see src/collective): it imports no PETSc.
installCollective({ rank: () => comm().rank, size: () => comm().size, allreduce });
