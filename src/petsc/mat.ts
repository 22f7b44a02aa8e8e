import { NativeMat } from '../native';
import { argError, checkFunction } from './errors';
import { petsc } from './init';
import { asVec, Comm, Vec } from './vec';

export type MultFn = (x: Float64Array, y: Float64Array) => void;

export interface ShellMatOptions {
  /** Global rows and columns; a square matrix needs only `size`. */
  size?: number;
  rows?: number;
  cols?: number;
  /** Locally owned rows and columns (distributed matrices); omitted: PETSc decides. */
  localRows?: number;
  localCols?: number;
  comm?: Comm;
  /** y = A x, on the locally owned parts (zero-copy views into PETSc's vectors). */
  mult: MultFn;
  /** y = A^T x */
  multTranspose?: MultFn;
  /** d = diag(A); lets Jacobi preconditioning work with the shell. */
  getDiagonal?: (d: Float64Array) => void;
  /**
   * Data-parallel products on 'world': the closures get full-length x and y on every rank, write
   * this rank's contribution to the whole of y, and the contributions are summed into each rank's
   * owned block in the native layer. Needs a square matrix. Default false (locally owned blocks).
   */
  replicated?: boolean;
}

/**
 * A matrix-free operator whose products are TypeScript closures, for Krylov solvers and for
 * TAO's Newton methods (Hessian-vector products). The closures live as long as the matrix.
 */
export class ShellMat {
  /** @internal */
  readonly handle: NativeMat;

  constructor(opts: ShellMatOptions) {
    if (opts === null || typeof opts !== 'object') throw argError('ShellMat', 'an options object', opts);
    const comm = opts.comm ?? 'self';
    if (comm !== 'self' && comm !== 'world') throw argError('ShellMat: comm', "'self' or 'world'", comm);
    // Sizes are validated natively (32-bit PetscInt), after every rank of 'world' has arrived.
    const rows = opts.rows ?? opts.size ?? null;
    const cols = opts.cols ?? opts.size ?? null;
    const lr = opts.localRows ?? null;
    const lc = opts.localCols ?? null;
    if (rows === null && lr === null) throw argError('ShellMat', 'size, rows or localRows', opts);
    if (opts.replicated && (rows !== cols || lr !== lc)) throw argError('ShellMat: replicated', 'a square matrix (same rows and cols)', opts);
    if (cols === null && lc === null) throw argError('ShellMat', 'size, cols or localCols', opts);
    const mult = checkFunction<MultFn>('ShellMat: mult', opts.mult);
    this.handle = new (petsc().Mat)(comm, lr, lc, rows, cols);
    this.handle.setCallback('mult', mult);
    if (opts.replicated !== undefined) {
      if (typeof opts.replicated !== 'boolean') throw argError('ShellMat: replicated', 'a boolean', opts.replicated);
      this.handle.setReplicated(opts.replicated);
    }
    if (opts.multTranspose !== undefined) {
      this.handle.setCallback('multTranspose', checkFunction<MultFn>('ShellMat: multTranspose', opts.multTranspose));
    }
    if (opts.getDiagonal !== undefined) {
      this.handle.setCallback('getDiagonal', checkFunction<(d: Float64Array) => void>('ShellMat: getDiagonal', opts.getDiagonal));
    }
  }

  /** [rows, cols] */
  get size(): [number, number] {
    return this.handle.getSize();
  }
  get localSize(): [number, number] {
    return this.handle.getLocalSize();
  }

  /** y = A x */
  mult(x: Vec, y: Vec): Vec {
    this.handle.mult(asVec('ShellMat.mult: x', x).handle, asVec('ShellMat.mult: y', y).handle);
    return y;
  }
  /** y = A^T x */
  multTranspose(x: Vec, y: Vec): Vec {
    this.handle.multTranspose(asVec('ShellMat.multTranspose: x', x).handle, asVec('ShellMat.multTranspose: y', y).handle);
    return y;
  }
  getDiagonal(d: Vec): Vec {
    this.handle.getDiagonal(asVec('ShellMat.getDiagonal', d).handle);
    return d;
  }
  /** Number of products taken since the last TAO solve that used this matrix began. */
  get multCount(): number {
    return this.handle.getMultCount();
  }

  destroy(): void {
    this.handle.destroy();
  }
}

export function asMat(where: string, m: unknown): ShellMat {
  if (!(m instanceof ShellMat)) throw argError(where, 'a ShellMat', m);
  return m;
}
