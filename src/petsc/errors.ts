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
