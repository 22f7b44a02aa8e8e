/** Errors raised by PETSc itself, with its code, message, rank and traceback. */
export class PetscError extends Error {
  /** PETSc's error code (PETSC_ERR_*). */
  code = 0;
  /** The specific message PETSc gave, without the generic text for the code. */
  petscMessage = '';
  /** MPI rank (in PETSC_COMM_WORLD) that raised the error. */
  rank = 0;
  /** PETSc's call stack at the error, innermost first: "Function() at file:line". */
  traceback: string[] = [];

  constructor(message: string) {
    super(message);
    this.name = 'PetscError';
  }
}

/**
 * A solve stopped by SIGINT or SIGTERM (Ctrl-C): raised at the next callback boundary, on every
 * rank. The process stays usable; a handler installed with process.on(signal) still runs once
 * the solve has returned.
 */
export class InterruptedError extends Error {
  /** 'SIGINT' or 'SIGTERM'. */
  signal = '';
  /** MPI rank (in PETSC_COMM_WORLD) that was interrupted. */
  rank = 0;

  constructor(message: string) {
    super(message);
    this.name = 'InterruptedError';
  }
}

const redelivered = new WeakSet<object>();

/**
 * The native layer keeps SIGINT/SIGTERM during a solve and stops the solve instead; a handler the
 * user installed (process.on) must still see the signal. It is sent again once the event loop
 * turns, when no native call runs any more. Without a handler nothing is re-sent: the
 * InterruptedError is the outcome (Node's default would kill the process). Returns `e`.
 */
export function redeliverInterrupt(e: unknown): unknown {
  if (!(e instanceof InterruptedError) || redelivered.has(e)) return e;
  redelivered.add(e);
  const sig = e.signal as NodeJS.Signals;
  setImmediate(() => {
    if (process.listenerCount(sig) > 0) process.kill(process.pid, sig);
  });
  return e;
}

/** PETSC_ERR_* codes users may want to test for (3.18 numbering). */
export const PetscErrorCode = {
  MEM: 55,
  SUP: 56,
  ARG_OUTOFRANGE: 63,
  ARG_WRONG: 62,
  ARG_WRONGSTATE: 73,
  ARG_SIZ: 60,
  ARG_INCOMP: 75,
  NOT_CONVERGED: 91,
  USER: 83,
} as const;

/** Argument validation, with one vocabulary: "petscml: <where>: <what was expected>, got <what>". */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (ArrayBuffer.isView(v)) return `${v.constructor.name}(${(v as unknown as { length: number }).length})`;
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === 'function') return 'a function';
  if (typeof v === 'object') return `an object of type ${(v as object).constructor?.name ?? 'Object'}`;
  return typeof v;
}

export function argError(where: string, expected: string, got: unknown): TypeError {
  return new TypeError(`petscml: ${where}: expected ${expected}, got ${describe(got)}`);
}

export function checkInt(where: string, v: unknown, min = 0): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw argError(where, `an integer >= ${min}`, v);
  return v;
}

/** PetscInt is 32-bit in this PETSc build: the largest size, index or count it holds. */
export const PETSC_INT_MAX = 2 ** 31 - 1;

/** An integer argument for PETSc: a RangeError naming it and the range when out of [min, 2^31-1] (never wrapped). */
export function checkPetscInt(where: string, v: unknown, min = 0): number {
  const expected = `an integer in [${min}, ${PETSC_INT_MAX}]`;
  if (typeof v !== 'number') throw argError(where, expected, v);
  if (!Number.isInteger(v) || v < min || v > PETSC_INT_MAX) throw new RangeError(`petscml: ${where}: expected ${expected}, got ${describe(v)}`);
  return v;
}

export function checkNumber(where: string, v: unknown, opts: { finite?: boolean } = { finite: true }): number {
  if (typeof v !== 'number' || (opts.finite !== false && !Number.isFinite(v))) {
    throw argError(where, opts.finite === false ? 'a number' : 'a finite number', v);
  }
  return v;
}

export function checkFunction<F>(where: string, v: unknown): F {
  if (typeof v !== 'function') throw argError(where, 'a function', v);
  return v as F;
}

export function checkString(where: string, v: unknown): string {
  if (typeof v !== 'string' || v.length === 0) throw argError(where, 'a non-empty string', v);
  return v;
}
