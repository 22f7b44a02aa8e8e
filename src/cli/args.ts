/**
 * Splitting a petscml command line: our own `--flags` go to node:util parseArgs, PETSc options
 * (`-tr_tao_type ntr`, single dash, several letters) are left for PETSc, which reads them from
 * process.argv itself.
 */

/** A usage error: printed as one line with the command's help hint, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

const PETSC_OPTION = /^-[A-Za-z][A-Za-z0-9_]+$/;
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/** Separates PETSc options (with their values) from the rest, keeping order within each. */
export function splitPetscOptions(argv: readonly string[]): { own: string[]; petsc: string[] } {
  const own: string[] = [];
  const petsc: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      petsc.push(...argv.slice(i + 1));
      break;
    }
    if (PETSC_OPTION.test(a)) {
      petsc.push(a);
      const next = argv[i + 1];
      if (next !== undefined && next !== '--' && (!next.startsWith('-') || NUMBER.test(next))) {
        petsc.push(next);
        i++;
      }
    } else {
      own.push(a);
    }
  }
  return { own, petsc };
}

export function positiveInt(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  // PETSc's integers are 32-bit: a larger count would wrap around there (1e12 epochs ran 0).
  if (!Number.isInteger(n) || n <= 0 || n > 2 ** 31 - 1) throw new UsageError(`--${name} must be an integer in [1, 2147483647], got '${v}'`);
  return n;
}

/** A count that may be 0 (--warmup-epochs 0 is the default). */
export function nonNegativeInt(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0 || n > 2 ** 31 - 1) throw new UsageError(`--${name} must be an integer in [0, 2147483647], got '${v}'`);
  return n;
}

/** --precision, checked against --backend: float64 runs only on petscml-float64. */
export function precisionArg(p: string | undefined, backend: string | undefined): 'float32' | 'float64' | undefined {
  if (p !== undefined && p !== 'float32' && p !== 'float64') throw new UsageError(`--precision must be float32 or float64, got '${p}'`);
  if (p === 'float64' && backend !== undefined && backend !== 'petscml-float64') {
    throw new UsageError(`--precision float64 runs on the petscml-float64 backend (tfjs has no float64), not on --backend ${backend}`);
  }
  return p as 'float32' | 'float64' | undefined;
}
