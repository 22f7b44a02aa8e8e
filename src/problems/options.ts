/**
 * Option checks shared by the problem generators: every bad option is refused by name, with the
 * value that was given, before any work starts.
 */

export function fail(where: string, message: string): never {
  throw new RangeError(`petscml: ${where}: ${message}`);
}

/** Short enough for an error message even when the value is a large array. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an Array of length ${value.length}`;
  if (typeof value === 'object' && value !== null) return `a ${value.constructor?.name ?? 'object'}`;
  return String(value);
}

export function numberOption(where: string, name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number') throw new TypeError(`petscml: ${where}: ${name} must be a number, got ${show(value)}`);
  if (!Number.isFinite(value)) fail(where, `${name} must be finite, got ${value}`);
  return value;
}

export function integerOption(where: string, name: string, value: unknown, fallback: number, min: number): number {
  const v = numberOption(where, name, value, fallback);
  if (!Number.isInteger(v) || v < min) fail(where, `${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

export function positiveOption(where: string, name: string, value: unknown, fallback: number): number {
  const v = numberOption(where, name, value, fallback);
  if (!(v > 0)) fail(where, `${name} must be > 0, got ${v}`);
  return v;
}

export function nonNegativeOption(where: string, name: string, value: unknown, fallback: number): number {
  const v = numberOption(where, name, value, fallback);
  if (!(v >= 0)) fail(where, `${name} must be >= 0, got ${v}`);
  return v;
}

export function checkObject(where: string, name: string, value: unknown): void {
  if (value !== undefined && (typeof value !== 'object' || value === null)) {
    throw new TypeError(`petscml: ${where}: ${name} must be an object, got ${show(value)}`);
  }
}

export function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0 && n <= 2 ** 30;
}

export function checkGridSize(where: string, name: string, n: unknown): number {
  if (typeof n !== 'number') throw new TypeError(`petscml: ${where}: ${name} must be a number, got ${show(n)}`);
  // fft.js is radix-2/4 only; 4 points is the smallest grid with a random mode (K = n/2 - 1 >= 1).
  if (!isPowerOfTwo(n) || n < 4) fail(where, `${name} must be a power of two >= 4 (fft.js sizes), got ${n}`);
  return n;
}

