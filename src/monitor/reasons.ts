/**
 * Why a run stopped, in words. TAO's reason names say what test fired, not what it means for the
 * run: DIVERGED_MAXITS is "the epochs are used up", not a divergence; CONVERGED_GATOL at iteration 0
 * with a zero gradient is a gradient callback that wrote nothing. Each explanation is one line; a
 * hint says what to try where there is something to try.
 */

export interface StopContext {
  /** TAO type ('ntr', 'lmvm', 'adamw', ...). */
  taoType?: string;
  iterations: number;
  /** Iteration limit in force (tao_max_it), when known. */
  maxIterations?: number;
  /** Epochs the run was given, when it was given epochs. */
  epochs?: number;
  /** Oracle-call budget, when one was set. */
  budget?: number;
  oracleCalls?: number;
  gradNorm?: number;
  /** Losses of the last iterations, oldest first (for the round-off test). */
  recentLosses?: readonly number[];
  /** First-order types step on their own schedule; the round-off hint is for the others. */
  firstOrder?: boolean;
  /** The signal that interrupted the run. */
  signal?: string;
  /** The checkpoint the run left, when it wrote one. */
  checkpoint?: string;
}

export interface StopExplanation {
  explanation: string;
  hint?: string;
}

/** Relative change below which a float32 loss is at its round-off (a few units of 6e-8). */
const FLOAT32_STALL = 1e-6;

function stalled(losses: readonly number[] | undefined): boolean {
  if (!losses || losses.length < 3) return false;
  const last = losses.slice(-3);
  const ref = Math.max(...last.map(Math.abs));
  if (!(ref > 0) || !last.every(Number.isFinite)) return false;
  return (Math.max(...last) - Math.min(...last)) / ref < FLOAT32_STALL;
}

const fmt = (v: number) => (Number.isInteger(v) ? String(v) : v.toPrecision(4));

export function explainStop(reason: string, ctx: StopContext): StopExplanation {
  const roundOff = !ctx.firstOrder && stalled(ctx.recentLosses)
    ? 'the loss changed by less than 1e-6 (relative) over the last 3 iterations, the level of float32 round-off: ' +
      'the solver cannot tell a better point from this one in single precision'
    : undefined;
  switch (reason) {
    case 'ORACLE_BUDGET':
      return { explanation: `the oracle-call budget${ctx.budget !== undefined ? ` of ${fmt(ctx.budget)}` : ''} is used up (${fmt(ctx.oracleCalls ?? NaN)} calls)` };
    case 'DIVERGED_MAXITS':
      return ctx.epochs !== undefined
        ? { explanation: `the ${fmt(ctx.epochs)} epoch${ctx.epochs === 1 ? '' : 's'} it was given are done (not a divergence: TAO calls reaching its iteration limit DIVERGED_MAXITS)` }
        : { explanation: `the iteration limit${ctx.maxIterations !== undefined ? ` (tao_max_it ${ctx.maxIterations})` : ''} is reached (not a divergence: TAO's name for it)` };
    case 'CONVERGED_GATOL':
      if (ctx.iterations === 0 && ctx.gradNorm === 0) {
        return {
          explanation: 'the gradient is exactly zero at the starting point',
          hint: 'a gradient callback that never writes g leaves it zero: check that yours fills the output vector',
        };
      }
      return { explanation: `the gradient norm${ctx.gradNorm !== undefined ? ` (${fmt(ctx.gradNorm)})` : ''} fell below the absolute tolerance -tao_gatol` };
    case 'CONVERGED_GRTOL':
      return { explanation: 'the gradient norm relative to the loss fell below -tao_grtol' };
    case 'CONVERGED_GTTOL':
      return { explanation: 'the gradient norm fell below -tao_gttol times its initial value' };
    case 'CONVERGED_STEPTOL':
      return { explanation: 'the step became smaller than -tao_steptol', hint: roundOff };
    case 'CONVERGED_MINF':
      return { explanation: 'the loss fell below -tao_fmin' };
    case 'CONVERGED_USER':
      return { explanation: 'stopped on request (Tao.stop(), a monitor or a test)' };
    case 'DIVERGED_NAN':
      return {
        explanation: 'the loss or the gradient became NaN or infinite',
        hint: 'lower the learning rate or the initial trust radius, or check the data and the model for overflow',
      };
    case 'DIVERGED_MAXFCN':
      return { explanation: 'the limit on objective evaluations (-tao_max_funcs) is reached' };
    case 'DIVERGED_LS_FAILURE':
      return {
        explanation: 'the line search found no step that lowers the loss',
        hint: roundOff ?? (ctx.taoType === 'nls' ? 'with exact Hessians of a non-convex loss the Newton direction can point uphill: try ls-gn (Gauss-Newton)' : undefined),
      };
    case 'DIVERGED_TR_REDUCTION':
      return {
        explanation: 'the trust region shrank to its minimum radius without an acceptable step',
        hint: roundOff,
      };
    case 'DIVERGED_USER':
      return { explanation: 'a callback asked to stop or failed' };
    case 'INTERRUPTED':
      return {
        explanation: `interrupted by ${ctx.signal ?? 'a signal'} after iteration ${ctx.iterations}`,
        hint: ctx.checkpoint ? `continue with resume: '${ctx.checkpoint}' (petscml train --resume)` : 'pass checkpoint: { path } (petscml train --checkpoint DIR) to be able to continue an interrupted run',
      };
    case 'ABORTED':
      return {
        explanation: `stopped by its AbortSignal after iteration ${ctx.iterations}`,
        hint: ctx.checkpoint ? `continue with resume: '${ctx.checkpoint}'` : undefined,
      };
    case 'killed':
      return { explanation: 'the log ends without a summary: the run was killed or is still running' };
    default:
      return { explanation: `TAO's reason ${reason}` };
  }
}
