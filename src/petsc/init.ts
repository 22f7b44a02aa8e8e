/**
 * PETSc initialization for the whole process: from process.argv by default, so that
 * `node script.js -tao_type nls -tao_monitor` works as it does for a PETSc C program.
 * MPI is initialized by PETSc; under `mpirun -n N` each rank is one Node process.
 */
import { native, NativeAddon } from '../native';
import { PetscError } from './errors';

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
  // With more than one rank, an error exit must take the whole job down: a rank that waits in
  // MPI_Finalize while another waits in a collective would hang mpirun.
  if (code !== 0 && world && world.size > 1) n.abort(code);
  n.finalize();
}

/** Initializes PETSc (and MPI) once; later calls return the same world. Options win over argv on first call only. */
export function initialize(opts: InitOptions = {}): World {
  if (world) return world;
  const n = native();
  n.setErrorClass(PetscError);
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

export function version(): { major: number; minor: number; subminor: number; text: string } {
  return native().version();
}
