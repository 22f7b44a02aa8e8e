// What a TAO run keeps when the same problem is computed in another summation order: on another
// number of ranks (PETSc's dot products and norms add the ranks' partial sums in another grouping),
// with another BLAS kernel family (OpenBLAS picks one per CPU; their ddot/dnrm2 block and
// accumulate differently) or with another BLAS build. Floating-point addition is not associative,
// so the iterates differ in the last bits from the first reduction on, and a line search or a
// Krylov stopping test can then take another branch. The minimizer and the stop reason are
// invariant; counts are not, and are compared within bands instead.
//
// The bands were measured with scripts/portability.sh (OpenBLAS SkylakeX, Haswell = Zen,
// Sandybridge, Nehalem and Debian's reference BLAS, on 1, 2 and 3 ranks): see BENCHMARKS.md,
// "Portability". Exact equality is asserted only where both runs do the same arithmetic in the same
// order (one rank against itself, petscml against petsc4py on the same BLAS).

export interface Band {
  /** allowed |actual - reference| as a fraction of the reference count */
  rel: number;
  /** ... but never less than this many */
  abs: number;
}

/**
 * Newton-type runs (nls, ntr, bntr, tron, ntl): quadratic convergence near the solution, so a
 * perturbation in the last bits rarely changes the iteration count; Krylov iterations (and so
 * Hessian products) move more, since each CG solve stops on a relative residual test.
 * Quasi-Newton and nonlinear CG runs (lmvm, blmvm, cg) on extended Rosenbrock from a start where
 * every pair is equal: L-BFGS builds its model from differences of gradients, and the rounding
 * differences grow with every update until they break the pairs' symmetry at different iterations
 * (seen: 22 to 36 iterations for the same lmvm run).
 */
export const BANDS: Record<'newton' | 'quasiNewton', Band> = {
  newton: { rel: 0.25, abs: 2 },
  quasiNewton: { rel: 0.75, abs: 4 },
};

export function bandFor(type: string): Band {
  return /^(lmvm|blmvm|cg|bqnls|bqnktr|bncg|owlqn)$/.test(type) ? BANDS.quasiNewton : BANDS.newton;
}

/**
 * The counts of `actual` that fall outside the band around `reference`, as readable strings
 * (an empty list when all are inside): `expect(outsideBand(...)).toEqual([])` shows every miss.
 */
export function outsideBand(label: string, actual: Record<string, number>, reference: Record<string, number>, band: Band): string[] {
  const misses: string[] = [];
  for (const key of Object.keys(reference)) {
    const a = actual[key];
    const r = reference[key];
    const allowed = Math.max(band.abs, band.rel * r);
    if (typeof a !== 'number' || Math.abs(a - r) > allowed) misses.push(`${label} ${key}: ${a} vs ${r} (allowed ±${allowed})`);
  }
  return misses;
}
