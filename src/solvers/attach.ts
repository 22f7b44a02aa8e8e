/**
 * Puts an ObjectiveFunction (src/functions/types.ts) on a TAO solver: objective and gradient
 * callbacks, and a shell Hessian whose products come from the function's Hessian operator.
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
}

export function attachFunction(tao: Tao, fn: ObjectiveFunction, opts: AttachOptions = {}): Attached {
  if (!(tao instanceof Tao)) throw argError('attachFunction: tao', 'a Tao', tao);
  if (fn === null || typeof fn !== 'object' || typeof fn.objectiveAndGradient !== 'function' || !Number.isInteger(fn.size)) {
    throw argError('attachFunction: fn', 'an ObjectiveFunction (size, objective, gradient, objectiveAndGradient)', fn);
  }
  if (tao.handle.getCommSize() > 1) {
    // Every rank would need the whole parameter vector: that is data-parallel training, which
    // gathers and sums in the native layer; it is not wired into this adapter yet.
    throw new Error('petscml: attachFunction: the Tao must be on comm "self"; data-parallel training over MPI is not supported yet');
  }
  tao.setObjective((x) => fn.objective(x));
  tao.setObjectiveAndGradient((x, g) => fn.objectiveAndGradient(x, g));
  tao.setGradient((x, g) => fn.gradient(x, g));
  const kind = opts.hessian ?? (fn.hessian ? 'gauss-newton' : 'none');
  if (kind !== 'none' && kind !== 'exact' && kind !== 'gauss-newton') {
    throw argError('attachFunction: hessian', "'exact', 'gauss-newton' or 'none'", kind);
  }
  if (kind === 'none') return { destroy() {} };
  if (!fn.hessian) throw new Error(`petscml: attachFunction: this function offers no Hessian products (asked for '${kind}')`);
  const op = fn.hessian(kind);
  const H = new ShellMat({ size: fn.size, mult: (v, y) => op.apply(v, y) });
  tao.setHessian(H, (x) => op.setPoint(x));
  return { hessian: H, hessianKind: kind, destroy: () => H.destroy() };
}
