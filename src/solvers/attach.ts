/**
 * Puts an ObjectiveFunction (src/functions/types.ts) on a TAO solver: objective and gradient
 * callbacks, and a shell Hessian whose products come from the function's Hessian operator.
 *
 * On a Tao over more than one rank this is data-parallel training: the parameters are an
 * MPI-distributed Vec, every rank's function sees the full parameter vector and returns its own
 * contribution (its shard's share of the loss), and the native layer gathers parameters and sums
 * objectives, gradients and Hessian products (replicated callbacks, native/replicated.cc). On one
 * rank nothing of that runs: the callbacks see PETSc's arrays directly. The Hessian shell's rows
 * are split as the Tao's solution is when it is set before attaching, else by PETSc's default split
 * (the one Vec.fromArray(x, 'world') uses); a solution split otherwise and set later fails the solve
 * with PETSc's 'Nonconforming object sizes' on every rank.
 */
import type { HessianKind, ObjectiveFunction } from '../functions/types';
import { argError } from '../petsc/errors';
import { ShellMat } from '../petsc/mat';
import { Tao } from '../petsc/tao';

export interface AttachOptions {
  /** Which Hessian products Newton-type solvers get: 'gauss-newton' (default when offered), 'exact', or 'none'. */
  hessian?: HessianKind | 'none';
}

export interface Attached {
  /** The shell matrix giving Hessian products, when one was attached. */
  hessian?: ShellMat;
  hessianKind?: HessianKind;
  /** Frees what attach created (not the Tao). */
  destroy(): void;
  /**
   * Frees only what PETSc does not own (the products' tensors) and leaves the shell matrix to the
   * garbage collector: for a solver dropped without destroy(). Its ranks collect at different
   * times, and a distributed matrix must not be destroyed on one rank alone.
   */
  release(): void;
}

export function attachFunction(tao: Tao, fn: ObjectiveFunction, opts: AttachOptions = {}): Attached {
  if (!(tao instanceof Tao)) throw argError('attachFunction: tao', 'a Tao', tao);
  if (fn === null || typeof fn !== 'object' || typeof fn.objectiveAndGradient !== 'function' || !Number.isInteger(fn.size)) {
    throw argError('attachFunction: fn', 'an ObjectiveFunction (size, objective, gradient, objectiveAndGradient)', fn);
  }
  const replicated = tao.handle.getCommSize() > 1;
  const solution = tao.solution;
  if (solution && solution.size !== fn.size) {
    throw new RangeError(`petscml: attachFunction: the Tao's solution has ${solution.size} entries but the function has ${fn.size} parameters`);
  }
  if (replicated) tao.setReplicated(true);
  tao.setObjective((x) => fn.objective(x));
  tao.setObjectiveAndGradient((x, g) => fn.objectiveAndGradient(x, g));
  tao.setGradient((x, g) => fn.gradient(x, g));
  const kind = opts.hessian ?? (fn.hessian ? 'gauss-newton' : 'none');
  if (kind !== 'none' && kind !== 'exact' && kind !== 'gauss-newton') {
    throw argError('attachFunction: hessian', "'exact', 'gauss-newton' or 'none'", kind);
  }
  if (kind === 'none') return { destroy() {}, release() {} };
  if (!fn.hessian) throw new Error(`petscml: attachFunction: this function offers no Hessian products (asked for '${kind}')`);
  const op = fn.hessian(kind);
  const mult = (v: Float64Array, y: Float64Array) => op.apply(v, y);
  // Distributed: the shell's rows must be split as the solver's vectors are (the solution's
  // split when it is already set, else PETSc's default split, which Vec.fromArray(x, 'world') uses).
  const H = replicated
    ? new ShellMat({ comm: 'world', size: fn.size, localRows: solution?.localSize, localCols: solution?.localSize, replicated: true, mult })
    : new ShellMat({ size: fn.size, mult });
  tao.setHessian(H, (x) => op.setPoint(x));
  // The operator may own tensors (Gauss-Newton caches the model output): it goes with the shell.
  return {
    hessian: H, hessianKind: kind,
    destroy: () => {
      try {
        H.destroy();
      } finally {
        op.dispose?.();
      }
    },
    release: () => op.dispose?.(),
  };
}
