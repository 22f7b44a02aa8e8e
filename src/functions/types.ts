/**
 * The function abstraction the solvers see (paper, section 3).
 *
 * It knows nothing of PETSc or of tfjs: parameters are a flat Float64Array of length `size`
 * (on every rank, the full vector), and results are written into caller-owned arrays. The solver
 * layer adapts it to TAO; the tfjs layer (src/functions/tfjs) implements it from a model, a loss and
 * data; a plain TypeScript implementation is just as valid.
 *
 * All methods are synchronous: TAO calls them from inside its own C frames.
 */
export interface ObjectiveFunction {
  /** Number of parameters (length of every vector passed in). */
  readonly size: number;

  /** f(x). */
  objective(x: Float64Array): number;

  /** Writes grad f(x) into g. */
  gradient(x: Float64Array, g: Float64Array): void;

  /** Returns f(x) and writes grad f(x) into g; cheaper than the two calls separately. */
  objectiveAndGradient(x: Float64Array, g: Float64Array): number;

  /**
   * A Hessian operator at a linearization point, or undefined when the function offers none.
   * `kind` selects the exact Hessian or the Gauss-Newton approximation; a function that cannot
   * compute the requested kind correctly throws (never returns a wrong product).
   */
  hessian?(kind: HessianKind): HessianOperator;

  /**
   * Called by the solver at the start of each iteration (TAO's update hook) with the current point.
   * A mini-batched function moves to its next batch here; it must then leave f and g at x consistent
   * with the new batch, written into `g` and returned, because TAO 3.18 does not recompute them.
   * Returns undefined when nothing changed.
   */
  update?(iteration: number, x: Float64Array, g: Float64Array): number | undefined;

  /** Oracle-call accounting (paper, section 4), when the function keeps it. */
  readonly counts?: OracleCounts;
}

export type HessianKind = 'exact' | 'gauss-newton';

/** A matrix-free Hessian: set the point once, then apply to many vectors. */
export interface HessianOperator {
  readonly kind: HessianKind;
  /** Sets the linearization point. */
  setPoint(x: Float64Array): void;
  /** y = H(x) v at the last point set. */
  apply(v: Float64Array, y: Float64Array): void;
  /** Releases what the operator holds (attachFunction's destroy calls it). */
  dispose?(): void;
}

/**
 * Oracle calls as counted in the paper: objective 1, gradient 2, exact Hessian product 4,
 * Gauss-Newton product 2, each scaled by the batch's share of the data set. Epochs are
 * data-set passes (same scaling, counted once per forward pass over the data).
 */
export interface OracleCounts {
  objectives: number;
  gradients: number;
  hessianProducts: number;
  oracleCalls: number;
  epochs: number;
}
