import { NativeComm, NativeVec } from '../native';
import { argError, checkFunction, checkNumber } from './errors';
import { petsc } from './init';

export type Comm = NativeComm;
export type NormType = '1' | '2' | 'inf';

export interface VecSizes {
  /** Entries owned by this rank; omitted: PETSc decides. */
  local?: number;
  /** Global length; omitted: the sum of the local sizes. */
  global?: number;
  /** 'self' (default): a sequential vector per process; 'world': distributed over all ranks. */
  comm?: Comm;
}

/**
 * A PETSc vector. On 'world' it is distributed: each rank owns a contiguous block
 * (`ownershipRange`) and array access is to that block only.
 */
export class Vec {
  /** @internal */
  readonly handle: NativeVec;

  /** @internal */
  constructor(handle: NativeVec) {
    this.handle = handle;
  }

  /** A vector of `size` entries (sequential), or with the given local/global sizes. */
  static create(size: number | VecSizes): Vec {
    const s: VecSizes = typeof size === 'number' ? { global: size } : size;
    if (typeof s !== 'object' || s === null) throw argError('Vec.create', 'a size or { local, global, comm }', size);
    const comm = s.comm ?? 'self';
    if (comm !== 'self' && comm !== 'world') throw argError('Vec.create: comm', "'self' or 'world'", comm);
    if (s.local === undefined && s.global === undefined) throw argError('Vec.create', 'a local or a global size', size);
    // Sizes are validated natively, after every rank of 'world' has arrived: a size that is bad or
    // different on one rank fails every rank instead of leaving the others in a collective.
    return new Vec(new (petsc().Vec)(comm, s.local ?? null, s.global ?? null));
  }

  /**
   * A vector holding a copy of `values`: sequential by default; with comm 'world', distributed
   * with PETSc's default split, every rank passing the same whole array and keeping its owned
   * block (so one script builds the same initial vector on any number of ranks).
   */
  static fromArray(values: ArrayLike<number>, comm: Comm = 'self'): Vec {
    const a = toFloat64('Vec.fromArray', values);
    if (comm !== 'self' && comm !== 'world') throw argError('Vec.fromArray: comm', "'self' or 'world'", comm);
    const v = Vec.create({ global: a.length, comm });
    if (comm === 'self') {
      v.handle.setArray(a);
    } else {
      const [lo, hi] = v.ownershipRange;
      v.handle.setArray(a.subarray(lo, hi));
    }
    return v;
  }

  get size(): number {
    return this.handle.getSize();
  }
  get localSize(): number {
    return this.handle.getLocalSize();
  }
  /** [first, last + 1) global indices owned by this rank. */
  get ownershipRange(): [number, number] {
    return this.handle.getOwnershipRange();
  }

  /** Sets every entry to alpha. */
  set(alpha: number): this {
    this.handle.set(checkNumber('Vec.set', alpha, { finite: false }));
    return this;
  }

  /**
   * Sets (or adds to) entries by global index, then assembles. Collective: every rank calls it,
   * possibly with empty arrays; entries owned by other ranks are communicated.
   */
  setValues(indices: ArrayLike<number>, values: ArrayLike<number>, mode: 'insert' | 'add' = 'insert'): this {
    if (indices === null || typeof indices !== 'object' || typeof indices.length !== 'number') {
      throw argError('Vec.setValues: indices', 'an array of integer indices', indices);
    }
    const val = toFloat64('Vec.setValues: values', values);
    if (mode !== 'insert' && mode !== 'add') throw argError('Vec.setValues: mode', "'insert' or 'add'", mode);
    // Indices and lengths are checked natively, together with the other ranks (the assembly is
    // collective): a bad index on one rank fails every rank. Non-numbers become NaN, refused there.
    const idx = indices instanceof Float64Array ? indices : Float64Array.from(indices as ArrayLike<number>, (k) => (typeof k === 'number' ? k : NaN));
    this.handle.setValues(idx, val, mode === 'add');
    return this;
  }

  /** Values at global indices owned by this rank. */
  getValues(indices: ArrayLike<number>): Float64Array {
    const [lo, hi] = this.ownershipRange;
    const idx = toIndices('Vec.getValues: indices', indices, this.size);
    for (const i of idx) {
      if (i < lo || i >= hi) throw new RangeError(`petscml: Vec.getValues: index ${i} is not owned by this rank (owns [${lo}, ${hi}))`);
    }
    return this.handle.getValues(idx);
  }

  /** A copy of the locally owned entries. */
  toArray(): Float64Array {
    return this.handle.toArray();
  }

  /** Copies `values` (length = localSize) into the locally owned entries. */
  setArray(values: ArrayLike<number>): this {
    const a = toFloat64('Vec.setArray', values);
    if (a.length !== this.localSize) {
      throw new RangeError(`petscml: Vec.setArray: expected ${this.localSize} values (the local size), got ${a.length}`);
    }
    this.handle.setArray(a);
    return this;
  }

  /**
   * Calls fn with a zero-copy view of the locally owned entries; writes go to PETSc's memory.
   * The view is detached (length 0) once withArray returns: do not keep it.
   */
  withArray<T>(fn: (values: Float64Array) => T): T {
    return this.handle.withArray(checkFunction<(a: Float64Array) => T>('Vec.withArray', fn));
  }

  /** A new vector with the same layout (values not copied). */
  duplicate(): Vec {
    return new Vec(this.handle.duplicate());
  }

  /** A new vector with the same layout and values, or copies into `dst`. */
  copy(dst?: Vec): Vec {
    const d = dst ?? this.duplicate();
    this.handle.copy(asVec('Vec.copy: destination', d).handle);
    return d;
  }

  norm(type: NormType = '2'): number {
    if (type !== '1' && type !== '2' && type !== 'inf') throw argError('Vec.norm: type', "'1', '2' or 'inf'", type);
    return this.handle.norm(type);
  }

  dot(other: Vec): number {
    return this.handle.dot(asVec('Vec.dot', other).handle);
  }

  /** this <- this + alpha x */
  axpy(alpha: number, x: Vec): this {
    this.handle.axpy(checkNumber('Vec.axpy: alpha', alpha), asVec('Vec.axpy: x', x).handle);
    return this;
  }

  /** this <- x + alpha this */
  aypx(alpha: number, x: Vec): this {
    this.handle.aypx(checkNumber('Vec.aypx: alpha', alpha), asVec('Vec.aypx: x', x).handle);
    return this;
  }

  scale(alpha: number): this {
    this.handle.scale(checkNumber('Vec.scale', alpha));
    return this;
  }

  sum(): number {
    return this.handle.sum();
  }

  /** The whole vector on every rank (collective). */
  gatherAll(): Float64Array {
    return this.handle.gatherAll();
  }

  /** Frees the vector (collective). Any later use throws. */
  destroy(): void {
    this.handle.destroy();
  }

  get destroyed(): boolean {
    return this.handle.isDestroyed();
  }
}

export function asVec(where: string, v: unknown): Vec {
  if (!(v instanceof Vec)) throw argError(where, 'a Vec', v);
  return v;
}

export function toFloat64(where: string, values: ArrayLike<number>): Float64Array {
  if (values instanceof Float64Array) return values;
  if (values === null || typeof values !== 'object' || typeof (values as ArrayLike<number>).length !== 'number') {
    throw argError(where, 'a Float64Array or an array of numbers', values);
  }
  const a = Float64Array.from(values);
  for (let i = 0; i < a.length; i++) {
    if (typeof values[i] !== 'number') throw argError(`${where}[${i}]`, 'a number', values[i]);
  }
  return a;
}

function toIndices(where: string, indices: ArrayLike<number>, size: number): Int32Array {
  if (indices === null || typeof indices !== 'object' || typeof indices.length !== 'number') {
    throw argError(where, 'an array of integer indices', indices);
  }
  const out = new Int32Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 0 || k >= size) {
      throw new RangeError(`petscml: ${where}[${i}]: expected an integer in [0, ${size}), got ${String(k)}`);
    }
    out[i] = k;
  }
  return out;
}
