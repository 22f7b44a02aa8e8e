import { FirstOrderState, NativeKSP, NativeTao, NativeTaoCounts, NativeTaoStatus, NativeVec } from '../native';

export type { FirstOrderState } from '../native';
import { Borrowed } from './borrowed';
import { argError, checkFunction, checkNumber, checkPetscInt, checkString, redeliverInterrupt } from './errors';
import { petsc } from './init';
import { KSP } from './ksp';
import { asMat, ShellMat } from './mat';
import { asVec, Comm, Vec } from './vec';

/**
 * TAO solvers for unconstrained (u) and bound-constrained (b) minimization, and petscml's own
 * first-order types 'adam', 'adamw' and 'sgd' (src/solvers/first-order.ts); any TaoType string works.
 */
export type TaoType =
  | 'lmvm' | 'nls' | 'ntr' | 'ntl' | 'cg' | 'nm' | 'tron' | 'gpcg' | 'owlqn' | 'bmrm'
  | 'blmvm' | 'bqnls' | 'bqnkls' | 'bqnktr' | 'bqnktl' | 'bnls' | 'bntr' | 'bntl' | 'bncg'
  | 'adam' | 'adamw' | 'sgd'
  | (string & {});

export type ObjectiveFn = (x: Float64Array) => number;
export type GradientFn = (x: Float64Array, g: Float64Array) => void;
export type ObjectiveAndGradientFn = (x: Float64Array, g: Float64Array) => number;

/** One iteration as the monitor sees it. */
export interface TaoStatus {
  iteration: number;
  /** Objective value. */
  f: number;
  /** Gradient norm (projected for bounded solvers). */
  gnorm: number;
  /** Constraint norm. */
  cnorm: number;
  /** Step size ||x_k - x_{k-1}|| as TAO reports it. */
  xdiff: number;
  /** TaoConvergedReason code: 0 while iterating, > 0 converged, < 0 diverged. */
  reason: number;
  reasonName: string;
  /** Current trust-region radius (trust-region solvers), else 0. */
  trustRadius: number;
  /** Last line-search step length (line-search solvers); the current learning rate for adam, adamw and sgd. */
  stepLength?: number;
  /** Krylov iterations so far in this solve. */
  kspIterations: number;
}

/**
 * Evaluation counts of the last solve, counted in the callbacks (TAO 3.18 has no totals):
 * `objectiveAndGradient` counts combined calls, `hessian` linearization points, `hessianMult`
 * products through the Hessian shell.
 */
export type TaoCounts = NativeTaoCounts;

export interface TaoResult extends TaoStatus {
  /** Iterations taken (same as `iteration`). */
  iterations: number;
  converged: boolean;
  counts: TaoCounts;
}

export interface TaoOptions {
  comm?: Comm;
  type?: TaoType;
  /** Options prefix: with 'tr_', `-tr_tao_type ntr` applies to this solver only. */
  prefix?: string;
}

/**
 * A TAO solver. Callbacks get zero-copy views of PETSc's vectors (the locally owned part); a view
 * must not be kept after the callback returns. On 'world', an objective callback returns this
 * rank's contribution and the values are summed over ranks (`objectiveReduction: 'sum'`), or
 * every rank returns the same global value (`'none'`). With `setReplicated()`, callbacks see the
 * whole vector on every rank instead (data-parallel training).
 */
export class Tao {
  /** @internal */
  readonly handle: NativeTao;
  private hessianMat?: ShellMat;
  private readonly borrowed = new Borrowed();

  constructor(opts: TaoOptions = {}) {
    if (opts === null || typeof opts !== 'object') throw argError('Tao', 'an options object', opts);
    const comm = opts.comm ?? 'self';
    if (comm !== 'self' && comm !== 'world') throw argError('Tao: comm', "'self' or 'world'", comm);
    this.handle = new (petsc().Tao)(comm);
    if (opts.prefix !== undefined) this.prefix = opts.prefix;
    if (opts.type !== undefined) this.type = opts.type;
  }

  get type(): string | null {
    return this.handle.getType();
  }
  set type(t: TaoType) {
    this.handle.setType(checkString('Tao.type', t));
  }
  get prefix(): string | null {
    return this.handle.getOptionsPrefix();
  }
  set prefix(p: string | null) {
    this.handle.setOptionsPrefix(p === null ? null : checkString('Tao.prefix', p));
  }

  /** Reads -[prefix]tao_* options (type, tolerances, monitors, KSP and line search settings). */
  setFromOptions(): this {
    this.handle.setFromOptions();
    return this;
  }

  /** The vector holding the initial guess, overwritten with the solution. */
  setSolution(x: Vec): this {
    this.handle.setSolution(asVec('Tao.setSolution', x).handle);
    return this;
  }
  get solution(): Vec | null {
    const h = this.handle.getSolution();
    return h ? this.borrowed.get(h, (b) => new Vec(b as NativeVec)) : null;
  }

  setObjective(fn: ObjectiveFn): this {
    this.handle.setCallback('objective', checkFunction<ObjectiveFn>('Tao.setObjective', fn));
    return this;
  }
  setGradient(fn: GradientFn): this {
    this.handle.setCallback('gradient', checkFunction<GradientFn>('Tao.setGradient', fn));
    return this;
  }
  /** f and its gradient in one call: TAO prefers it when given. */
  setObjectiveAndGradient(fn: ObjectiveAndGradientFn): this {
    this.handle.setCallback('objectiveAndGradient', checkFunction<ObjectiveAndGradientFn>('Tao.setObjectiveAndGradient', fn));
    return this;
  }

  /**
   * The Hessian as a shell matrix (its `mult` gives Hessian-vector products) and an optional
   * callback receiving each new linearization point before products are taken. Unless you choose
   * a preconditioner, Jacobi is used when the shell has getDiagonal, else none.
   */
  setHessian(H: ShellMat, atPoint?: (x: Float64Array) => void): this {
    const m = asMat('Tao.setHessian', H);
    const fn = atPoint === undefined ? null : checkFunction<(x: Float64Array) => void>('Tao.setHessian: atPoint', atPoint);
    this.handle.setHessian(m.handle, fn);
    this.hessianMat = m;
    return this;
  }
  get hessian(): ShellMat | undefined {
    return this.hessianMat;
  }

  /** Lower and upper bounds for the bounded solvers (blmvm, bnls, bntr, tron, ...). */
  setVariableBounds(lower: Vec, upper: Vec): this {
    this.handle.setVariableBounds(asVec('Tao.setVariableBounds: lower', lower).handle, asVec('Tao.setVariableBounds: upper', upper).handle);
    return this;
  }

  /** Gradient tolerances: absolute, relative to f, and relative to the initial gradient norm. */
  setTolerances(t: { gatol?: number; grtol?: number; gttol?: number }): this {
    const pick = (v: number | undefined, n: string) => (v === undefined ? NaN : checkNumber(`Tao.setTolerances: ${n}`, v));
    this.handle.setTolerances(pick(t.gatol, 'gatol'), pick(t.grtol, 'grtol'), pick(t.gttol, 'gttol'));
    return this;
  }
  get tolerances(): { gatol: number; grtol: number; gttol: number } {
    return this.handle.getTolerances();
  }
  get maxIterations(): number {
    return this.handle.getMaximumIterations();
  }
  set maxIterations(n: number) {
    this.handle.setMaximumIterations(checkPetscInt('Tao.maxIterations', n));
  }
  set maxFunctionEvaluations(n: number) {
    this.handle.setMaximumFunctionEvaluations(checkPetscInt('Tao.maxFunctionEvaluations', n, -1));
  }
  /** 'sum' (default): objective callbacks return rank-local contributions; 'none': the global value. */
  set objectiveReduction(mode: 'sum' | 'none') {
    if (mode !== 'sum' && mode !== 'none') throw argError('Tao.objectiveReduction', "'sum' or 'none'", mode);
    this.handle.setObjectiveReduction(mode);
  }

  /**
   * Replicated callbacks, for data-parallel training on 'world': the objective, gradient and
   * Hessian-point callbacks get the FULL vector on every rank (gathered in the native layer), and
   * return / write this rank's full-length contribution; objectives are summed and gradients are
   * summed into each rank's owned block (one reduce-scatter). Off (default): callbacks see the
   * locally owned blocks. A Hessian shell needs the same mode (ShellMat option `replicated`).
   */
  setReplicated(on = true): this {
    if (typeof on !== 'boolean') throw argError('Tao.setReplicated', 'a boolean', on);
    this.handle.setReplicated(on);
    return this;
  }

  /**
   * Lets non-finite objective and gradient values through to TAO instead of refusing them with
   * an error (the default for every type but adam, adamw and sgd, where they end the solve as
   * DIVERGED_NAN). For training: float32 models overflow at far trial points, and TAO's line
   * searches and trust regions shrink the step there; a run whose accepted point is not finite
   * ends with reason DIVERGED_NAN. createSolver turns this on.
   */
  setAllowNonFinite(on = true): this {
    if (typeof on !== 'boolean') throw argError('Tao.setAllowNonFinite', 'a boolean', on);
    this.handle.setAllowNonFinite(on);
    return this;
  }

  /** Called at the start of every iteration with the iteration number (TAO's update hook). */
  setUpdate(fn: (iteration: number) => void): this {
    this.handle.setCallback('update', checkFunction<(i: number) => void>('Tao.setUpdate', fn));
    return this;
  }
  /**
   * Called after every iteration (and at the start) with the solver's status. Replaces any earlier
   * monitor. As in PETSc, Newton-type solvers may report an iteration number more than once
   * (BNK's initialization, rejected trust-region steps).
   */
  setMonitor(fn: ((status: TaoStatus) => void) | null): this {
    this.handle.setCallback('monitor', fn === null ? null : checkFunction<(s: NativeTaoStatus) => void>('Tao.setMonitor', fn));
    return this;
  }

  /** The Krylov solver of Newton-type methods (null for others); released with this Tao. */
  get ksp(): KSP | null {
    const h = this.handle.getKSP();
    return h ? this.borrowed.get(h, (b) => KSP.wrap(b as NativeKSP), (k) => k.destroy()) : null;
  }

  /**
   * Minimizes. Throws what a callback threw (the same object), or a PetscError for PETSc failures;
   * on more than one rank, every rank throws when any rank fails. SIGINT or SIGTERM during the
   * solve stops it at the next callback with an InterruptedError (every rank).
   */
  solve(x?: Vec): TaoResult {
    if (x !== undefined) this.setSolution(x);
    let s: NativeTaoStatus;
    try {
      s = this.handle.solve();
    } catch (e) {
      throw redeliverInterrupt(e);
    }
    return { ...s, iterations: s.iteration, converged: s.reason > 0, counts: this.handle.getCounts() };
  }

  /**
   * solve() without blocking the event loop: TaoSolve runs on a thread of its own and each
   * callback is run on this (the JavaScript) thread while the solver thread waits, so timers,
   * I/O and requests are served between callbacks. One at a time per process; until it settles,
   * PETSc objects may be used only inside its callbacks (elsewhere they throw). Collective.
   */
  async solveAsync(x?: Vec): Promise<TaoResult> {
    if (x !== undefined) this.setSolution(x);
    let s: NativeTaoStatus;
    try {
      s = await this.handle.solveAsync();
    } catch (e) {
      throw redeliverInterrupt(e);
    }
    return { ...s, iterations: s.iteration, converged: s.reason > 0, counts: this.handle.getCounts() };
  }

  /**
   * Ends the running solve at its next iteration boundary, with reason CONVERGED_USER: call it
   * from a monitor or a callback of this solve (a budget reached, a target met). Under mpirun,
   * call it on every rank at the same iteration, as every rank must stop together.
   */
  stop(): void {
    this.handle.stop();
  }

  /**
   * adam, adamw and sgd: the optimizer state at the start of the current step (in a monitor:
   * before that step's update), this rank's blocks; undefined for other types. For checkpoints.
   */
  get firstOrderState(): FirstOrderState | undefined {
    return this.handle.getFirstOrderState();
  }

  /**
   * adam, adamw and sgd: the next solve starts at step `state.step` with these moments and
   * bias-correction powers instead of zeros (a resumed run). Collective.
   */
  setFirstOrderResume(state: FirstOrderState): this {
    this.handle.setFirstOrderResume(state.step, state.power1, state.power2, state.m, state.v);
    return this;
  }

  /**
   * Updates (accepted or rejected) held by the LMVM matrix since its last reset: lmvm's own, or
   * the L-BFGS preconditioner of nls and ntr; -1 when there is none.
   */
  get lmvmUpdateCount(): number {
    return this.handle.lmvmUpdateCount();
  }

  /** A copy of this rank's block of TAO's gradient (in a monitor: at the current point); null before a solve. */
  gradientArray(): Float64Array | null {
    return this.handle.getGradientArray();
  }

  /**
   * Feeds (x, g) points, in order, to the LMVM matrix before a solve, which keeps them (lmvm
   * recycles its matrix). `points` alternate x and g, as this rank's blocks. Returns the pairs the
   * matrix holds. Collective.
   */
  replayLMVM(points: Float64Array[]): number {
    return this.handle.replayLMVM(points);
  }

  get status(): TaoStatus {
    return this.handle.getStatus();
  }
  get counts(): TaoCounts {
    return this.handle.getCounts();
  }

  /**
   * Frees the solver and its callbacks (collective), with the KSP and solution Vec wrappers it
   * handed out (a Vec passed to setSolution stays the caller's).
   */
  destroy(): void {
    this.handle.destroy(); // first: it refuses while a solve runs, and then nothing is released
    this.borrowed.releaseAll();
  }
  get destroyed(): boolean {
    return this.handle.isDestroyed();
  }
}
