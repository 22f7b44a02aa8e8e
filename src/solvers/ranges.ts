/**
 * Range checks for the numbers a solver hands to PETSc's options database.
 *
 * PETSc 3.18 parses integer options into a 32-bit PetscInt without overflow checks: -tao_max_it
 * 1e12 became 0 iterations and 2^32 + 2 became 2. Such values must never reach it: every integer
 * option petscml knows (by name, below) is checked to be an integer in its range first, and the
 * real-valued ones with a documented domain are checked too. The error names the option, where the
 * value came from, the range and the value.
 */
import { version } from '../petsc/init';

/** The largest PetscInt of this PETSc build (2^31 - 1 for the usual 32-bit indices). */
export function maxPetscInt(): number {
  let bytes = 4;
  try {
    bytes = (version() as { indexBytes?: number }).indexBytes ?? 4;
  } catch {
    // addon not loadable: assume the default build
  }
  return bytes >= 8 ? Number.MAX_SAFE_INTEGER : 2 ** 31 - 1;
}

interface Rule {
  test: RegExp;
  int: boolean;
  min: number;
  /** min excluded */
  open?: boolean;
  /** max excluded when below Infinity */
  max?: number;
  maxOpen?: boolean;
  note?: string;
}

// Integer options by name ending (PETSc's and petscml's); first match wins.
const RULES: Rule[] = [
  { test: /(^|_)max_funcs$/, int: true, min: -1, note: '-1: no limit' },
  { test: /(^|_)(max_it|max_its|maxit|ksp_its|restart|nmax)$/, int: true, min: 0 },
  { test: /(^|_)(hist_size|sigma_hist|memory_size|steps_per_epoch|lr_decay_epochs)$/, int: true, min: 1 },
  { test: /(^|_)(reference_policy|replacement_policy)$/, int: true, min: 0 },
  // reals with a domain
  { test: /^tao_(gatol|grtol|gttol|steptol|catol|crtol)$/, int: false, min: 0 },
  { test: /(^|_)ksp_rtol$/, int: false, min: 0, max: 1, maxOpen: true },
  { test: /(^|_)(ksp_atol|max_radius|min_radius)$/, int: false, min: 0 },
  { test: /^tao_trust0$/, int: false, min: 0, open: true },
  { test: /^tao_(adam|adamw|sgd)_(lr|epsilon)$/, int: false, min: 0, open: true },
  { test: /^tao_(adam|adamw)_(beta1|beta2)$/, int: false, min: 0, max: 1, maxOpen: true },
  { test: /^tao_sgd_momentum$/, int: false, min: 0, max: 1, maxOpen: true },
  { test: /^tao_(adamw_weight_decay|(adam|adamw|sgd)_lr_decay_rate)$/, int: false, min: 0 },
];

function rangeText(r: Rule, max: number): string {
  const hi = r.max ?? (r.int ? max : Infinity);
  const lo = `${r.open ? '(' : '['}${r.min}`;
  const up = hi === Infinity ? 'inf)' : `${hi}${r.maxOpen ? ')' : ']'}`;
  return `${r.int ? 'an integer' : 'a number'} in ${lo}, ${up}${r.note ? ` (${r.note})` : ''}`;
}

/** Whether `name` (no prefix, no dash) is an integer option petscml knows. */
export function isIntegerOption(name: string): boolean {
  return RULES.some((r) => r.int && r.test.test(name));
}

/**
 * Checks one option value; throws a RangeError naming it. `name` is relative to the prefix;
 * `source` says where it came from ('cfg', 'the preset', 'the command line', 'epochs').
 * Non-numeric strings for integer options are refused too (PETSc would fail later, less clearly).
 */
export function checkOptionValue(name: string, value: string | number | boolean | null, source: string, prefix = ''): void {
  const rule = RULES.find((r) => r.test.test(name));
  if (!rule || value === null || typeof value === 'boolean') return;
  const max = maxPetscInt();
  const v = typeof value === 'number' ? value : value.trim() === '' ? NaN : Number(value);
  const hi = rule.max ?? (rule.int ? max : Infinity);
  const ok = Number.isFinite(v) && (!rule.int || Number.isInteger(v))
    && (rule.open ? v > rule.min : v >= rule.min) && (rule.maxOpen ? v < hi : v <= hi);
  if (!ok) {
    throw new RangeError(`petscml: createSolver: option -${prefix}${name} (from ${source}) must be ${rangeText(rule, max)}, ` +
      `got ${typeof value === 'string' ? `'${value}'` : String(value)}` +
      (rule.int && Number.isInteger(v) && v > max ? ` (PETSc's integers are ${max === 2 ** 31 - 1 ? '32' : '64'}-bit: it would wrap around)` : ''));
  }
}

/** A positive integer argument of petscml's own (epochs, test.every): at most the largest PetscInt. */
export function checkCount(where: string, v: unknown, min = 1): number {
  const max = maxPetscInt();
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(`petscml: ${where} must be an integer in [${min}, ${max}], got ${typeof v === 'string' ? `'${v}'` : String(v)}`);
  }
  return v;
}
