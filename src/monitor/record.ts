/**
 * The records of a training run, one JSON object per line of a `.jsonl` log.
 *
 * A log holds one `header`, then one `iteration` record per solver iteration (written and flushed
 * as it happens, so a killed run keeps everything up to its last iteration), then one `summary`
 * when the solve ends (missing if the run was killed). Readers must ignore unknown fields and a
 * torn last line.
 */

/** Counts since the start of the solve (cumulative). */
export interface RecordCounts {
  /** Objective-only evaluations. */
  objective: number;
  /** Gradient-only evaluations. */
  gradient: number;
  /** Combined objective-and-gradient evaluations. */
  objectiveAndGradient: number;
  /** Hessian linearization points. */
  hessian: number;
  /** Hessian (or Gauss-Newton) products. */
  hessianProducts: number;
  /** Krylov iterations. */
  kspIterations: number;
}

export interface HeaderRecord {
  type: 'header';
  /** Run label, shown in legends and tables (for example 'TR-GN'). */
  solver: string;
  /** The TAO type actually used (for example 'ntr'). */
  taoType: string;
  /** Options prefix of the solver, or '' */
  prefix: string;
  /** Hessian products used: 'exact', 'gauss-newton' or 'none'. */
  hessian: string;
  parameters: number;
  /** Training samples, when known. */
  samples?: number;
  /** Mini-batches per epoch (1 = full batch). */
  batchesPerEpoch: number;
  /** Name of the test metric, when a test set is given. */
  metric?: string;
  /** The PETSc options in force for this solver (name without dash -> value). */
  options: Record<string, string>;
  /** MPI ranks. */
  ranks: number;
  /** ISO 8601 start time. */
  started: string;
  petscmlVersion: string;
  /** Where a warm-started run's counts begin (createSolver's warmStart). */
  warmStart?: { oracleCalls: number; epochs: number };
  /** A run resumed from a checkpoint: its file and the iteration the resumed records start at. */
  resumed?: { from: string; iteration: number };
  /** The function's arithmetic, when it says (a TfjsFunction: 'float32' or 'float64'). */
  precision?: 'float32' | 'float64';
}

export interface IterationRecord {
  type: 'iteration';
  iteration: number;
  /** Passes over the training data so far (fractional with mini-batches). */
  epoch: number;
  /** Objective at the current iterate (the current batch's loss with mini-batches). */
  loss: number;
  /**
   * Loss over the whole training set at the current iterate: the same as `loss` with full batches;
   * with mini-batches computed once per epoch (not counted as oracle calls) and null in between.
   * Absent in logs written before it existed (readers fall back to `loss`).
   */
  trainLoss?: number | null;
  gradNorm: number;
  /** Test metric at the current iterate, or null when not computed at this iteration. */
  testMetric: number | null;
  counts: RecordCounts;
  /** Paper-style oracle calls since the start (section 4 weighting, scaled by batch share). */
  oracleCalls: number;
  /** Trust-region radius (trust-region solvers), else null. */
  trustRadius: number | null;
  /** Line-search step length, or the learning rate for first-order solvers, else null. */
  stepLength: number | null;
  /** Seconds since the start of the solve. */
  time: number;
}

export interface SummaryRecord {
  type: 'summary';
  iterations: number;
  epochs: number;
  /** Final objective (on the full training set). */
  loss: number;
  /** Smallest training-set loss seen in iteration records (`trainLoss`, else `loss`). */
  minLoss: number;
  gradNorm: number;
  testMetric: number | null;
  minTestMetric: number | null;
  oracleCalls: number;
  counts: RecordCounts;
  /** TaoConvergedReason name, for example 'CONVERGED_GATOL' or 'DIVERGED_MAXITS'; 'ORACLE_BUDGET' when createSolver's budget ended the run. */
  reason: string;
  converged: boolean;
  /** The reason in words (explainStop); absent in logs written before it existed. */
  explanation?: string;
  /** What to try, where there is something to try. */
  hint?: string;
  /** Wall seconds of the solve. */
  time: number;
}

export type RunRecord = HeaderRecord | IterationRecord | SummaryRecord;
