/**
 * The one-line solver (paper, section 3): a function, a preset or PETSc options, initial
 * parameters and a monitor in; a configured TAO solver out.
 *
 *   const solver = createSolver(fn, { preset: 'tr-gn', prefix: 'tr_', epochs: 100, log: 'tr.jsonl' });
 *   const result = solver.solve();
 *
 * Option precedence, lowest first: the preset, `cfg`, the command line (`-tr_tao_ntr_ksp_max_it 50`).
 */
import * as fs from 'node:fs';
import type { Batch, Metric } from '../functions';
import { meanRelativeError } from '../functions/losses';
import type { HessianKind, ObjectiveFunction } from '../functions/types';
import type { HeaderRecord, IterationRecord, RecordCounts, RunRecord, SummaryRecord } from '../monitor/record';
import { explainStop } from '../monitor/reasons';
import { JsonlLog } from '../monitor/log';
import { ProgressReporter, type ProgressOptions } from '../monitor/progress';
import { argError, InterruptedError } from '../petsc/errors';
import { allreduce, comm, petsc } from '../petsc/init';
import { Options, type OptionValue } from '../petsc/options';
import { Tao, type TaoCounts, type TaoResult, type TaoStatus } from '../petsc/tao';
import { Vec } from '../petsc/vec';
import { agreeAcrossRanks, agreeOnFailure, vectorFingerprint } from '../collective';
import { attachFunction, type Attached } from './attach';
import { checkCount, checkOptionValue, maxPetscInt } from './ranges';
import { isHeld, ScopedOptions, type ScopedEntry } from './scoped-options';
import { FIRST_ORDER_OPTIONS, FIRST_ORDER_TYPES, firstOrderOptionName } from './first-order';
import { PRESETS, presetNames, type Preset, type PresetName } from './presets';
import { checkContents, checkIdentity, readCheckpoint, writeCheckpoint, type Checkpoint, type CheckpointIdentity, type CheckpointProgress, type CheckpointSolverState } from './checkpoint';

const firstOrderTypes: ReadonlySet<string> = new Set(FIRST_ORDER_TYPES);

/** Somewhere records go: a JSON-lines log, a progress line, a user callback. */

/** A function's arithmetic, when it says (TfjsFunction.precision). */
function precisionOf(fn: unknown): 'float32' | 'float64' | undefined {
  const p = (fn as { precision?: unknown } | null)?.precision;
  return p === 'float32' || p === 'float64' ? p : undefined;
}

export interface RecordSink {
  write(record: RunRecord): void;
  close?(): void;
}

export interface TestSet {
  data: Batch;
  /** Default: mean relative error (paper eq. 7). */
  metric?: Metric;
  /** Shown in logs and tables. Default 'mean relative error' (or 'metric' for a custom one). */
  metricName?: string;
  /** Evaluate every this many iterations (default: once per epoch) and at the end. */
  every?: number;
}

export interface SolverOptions {
  /** One of the paper's solvers or a first-order reference. Default 'tr-gn'. */
  preset?: PresetName;
  /** PETSc options without the dash, relative to the prefix: { tao_ntr_ksp_max_it: 50 }. */
  cfg?: Record<string, OptionValue>;
  /** Options prefix, so `-tr_tao_type ntr` tunes this solver only. Default: none. */
  prefix?: string;
  /** Name in logs, tables and legends. Default: the preset's label. */
  label?: string;
  /** Initial parameters (flat, length fn.size). Default: the function's own (the model's weights). */
  params?: ArrayLike<number>;
  /** Override the preset's Hessian products. */
  hessian?: HessianKind | 'none';
  /**
   * Budget in epochs (passes over the training data): sets tao_max_it to epochs x mini-batches
   * unless tao_max_it is given in cfg or on the command line.
   */
  epochs?: number;
  /**
   * Stops the run at the first iteration boundary at which it has used this many oracle calls
   * (the paper's accounting: f 1, g 2, f+g 2, a Gauss-Newton product 2, an exact one 4), so that
   * solvers can be compared at equal cost. The last iteration may overshoot the budget by at most
   * its own calls (the summary reports what was used); the reason is then 'ORACLE_BUDGET'.
   * Whichever of epochs and budget comes first ends the run.
   */
  budget?: { oracleCalls: number };
  /**
   * This run continues earlier training from `params` (the paper's hybrid start: some epochs of a
   * first-order method, then a second-order one): its records and summary count oracle calls and
   * epochs on from these values, and `budget` bounds the total, the earlier work included.
   */
  warmStart?: { oracleCalls: number; epochs?: number };
  test?: TestSet;
  /** Called with every record (header, iterations, summary). */
  monitor?: (record: RunRecord) => void;
  /** Path of a JSON-lines log of this run, flushed at every record (rank 0 writes it). */
  log?: string;
  /** Show a progress line (live in a terminal, plain lines in a pipe or CI) on stderr, rank 0. */
  progress?: boolean | ProgressOptions;
  /** Further sinks; written on rank 0 only unless allRanks. */
  sinks?: RecordSink[];
  /** Write sinks on every rank (default: rank 0 only). */
  allRanks?: boolean;
  /**
   * Several live solvers may share a prefix (each still keeps its own preset and cfg); without
   * this, the second one warns that options under the prefix from the command line reach both
   * (once, until no solver on the prefix is left).
   */
  sharePrefix?: boolean;
  /**
   * Writes a checkpoint to `path` every `every` iterations (default: once per epoch, and at least
   * 10 iterations apart), at the end
   * of the run and when a signal interrupts it: parameters, solver state (adam/adamw/sgd moments
   * and step; the trust radius; the L-BFGS history as points to replay), the forcing term,
   * counters and the log position. Atomic: a kill at any instant leaves the last one valid.
   *
   * `lmvmPoints` (lmvm, and nls/ntr with the L-BFGS preconditioner): how many of the points the
   * L-BFGS matrix was updated with are kept and replayed on resume. TAO's diagonal scaling of that
   * matrix depends on every point since the matrix was last reset: a resumed run reproduces the
   * uninterrupted one bit for bit while that count is at most `lmvmPoints`; beyond it the (s, y)
   * pairs are still the same (with at least history + 1 points) but the scaling is rebuilt from the
   * kept points, and a trust-region run then drifts (the README gives the measured difference).
   * Each point costs 2 x size doubles, in memory and in the file. Default: all points up to 64 MiB
   * of them (at most 1000), and at least the history + 1.
   */
  checkpoint?: { path: string; every?: number; lmvmPoints?: number };
  /**
   * Continues the run a checkpoint holds: solve() starts at its iteration with its state, and its
   * records, oracle calls, epochs and times continue the checkpoint's; the `log` is cut back to
   * where the checkpoint was taken and appended to. The solver must be the same run (function size,
   * preset, options, data, ranks, precision; the iteration budget may differ): anything else is
   * refused, naming what differs.
   */
  resume?: string;
  /**
   * Aborting it stops the solve at its next iteration boundary (every rank at the same one): the
   * result has reason 'ABORTED', and a checkpoint is written when one is configured.
   */
  signal?: AbortSignal;
}

export interface TrainResult {
  /** Final parameters (the whole vector, on every rank). */
  x: Float64Array;
  status: TaoResult;
  summary: SummaryRecord;
  header: HeaderRecord;
  records: IterationRecord[];
}

/** Option names a user may set that PETSc only reads after setup (views, reports). */
const READ_LATE = /(^|_)(view|converged_reason|options_left|help|log_view)(_|$)/;

/** Common option names offered as close matches when a cfg key is not recognized. */
const COMMON = [
  'tao_type', 'tao_max_it', 'tao_max_funcs', 'tao_gatol', 'tao_grtol', 'tao_gttol', 'tao_fmin', 'tao_steptol',
  'tao_monitor', 'tao_view', 'tao_converged_reason', 'tao_ls_type', 'tao_ls_max_funcs', 'tao_trust0',
  'tao_ls_armijo_alpha', 'tao_ls_armijo_beta', 'tao_ls_armijo_sigma', 'tao_ls_armijo_memory_size',
  'tao_ntr_ksp_rtol', 'tao_nls_ksp_rtol', 'tao_ntr_ksp_monitor', 'tao_nls_ksp_monitor', 'tao_ntr_min_radius',
  'tao_nls_max_radius', 'tao_nls_pc_lmvm_mat_lmvm_hist_size', 'tao_lmvm_recycle',
  ...FIRST_ORDER_OPTIONS.flatMap((o) => o.types.map((t) => firstOrderOptionName(t, o.name).slice(1))),
  'petscml_forcing', 'petscml_forcing_eta0', 'petscml_forcing_gamma', 'petscml_forcing_alpha', 'petscml_forcing_max',
];

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0];
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = d[j];
      d[j] = Math.min(d[j] + 1, d[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return d[b.length];
}

/** Up to three known names closest to `name`. */
export function closeMatches(name: string, known: Iterable<string>): string[] {
  const scored = [...new Set(known)]
    .map((k) => ({ k, d: editDistance(name, k) }))
    .filter(({ k, d }) => d <= Math.max(2, Math.floor(name.length / 4)) || k.includes(name) || name.includes(k))
    .sort((a, b) => a.d - b.d || a.k.localeCompare(b.k));
  return scored.slice(0, 3).map((s) => s.k);
}

function knownOptionNames(): string[] {
  return [...COMMON, ...Object.values(PRESETS).flatMap((p) => Object.keys(p.options))];
}

function validateCfg(cfg: Record<string, OptionValue>): Record<string, OptionValue> {
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) throw argError('createSolver: cfg', 'an object of PETSc options', cfg);
  const out: Record<string, OptionValue> = {};
  for (const [rawKey, value] of Object.entries(cfg)) {
    const key = rawKey.replace(/^-/, '');
    if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(key)) {
      throw new Error(`petscml: createSolver: cfg key '${rawKey}' is not a PETSc option name (letters, digits and '_', no spaces)`);
    }
    if (!['string', 'number', 'boolean'].includes(typeof value) || (typeof value === 'number' && !Number.isFinite(value))) {
      throw argError(`createSolver: cfg.${key}`, 'a string, a finite number or a boolean', value);
    }
    out[key] = value;
  }
  return out;
}

interface Batched {
  batchCount: number;
  selectBatch(index: number): void;
  batchIndex?: number;
  batchSizes?: number[];
}
function batched(fn: ObjectiveFunction): Batched | undefined {
  const b = fn as unknown as Partial<Batched>;
  return typeof b.batchCount === 'number' && typeof b.selectBatch === 'function' ? (b as Batched) : undefined;
}

interface WithModel {
  initialParameters?(): Float64Array;
  setParameters?(x: Float64Array): void;
  evaluate?(x: Float64Array, data: Batch, metric?: Metric): number;
  /** Throws naming the problem when data does not fit the model (shapes, counts, values). */
  checkData?(data: Batch, what: string, metric?: Metric): void;
  datasetSize?: number;
}

let version = '0.0.0';
try {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  version = require('../../package.json').version;
} catch {
  // a bundled copy without package.json keeps the placeholder
}

/** Eisenstat-Walker forcing term, choice 2 (see the README's solver section). */
class Forcing {
  private prevGnorm = NaN;
  private eta: number;
  constructor(private readonly eta0: number, private readonly gamma: number, private readonly alpha: number, private readonly max: number) {
    this.eta = eta0;
  }
  state(): { prevGnorm: number | null; eta: number } {
    return { prevGnorm: Number.isFinite(this.prevGnorm) ? this.prevGnorm : null, eta: this.eta };
  }
  restore(s: { prevGnorm: number | null; eta: number }): void {
    this.prevGnorm = s.prevGnorm ?? NaN;
    this.eta = s.eta;
  }
  next(gnorm: number): number {
    if (Number.isFinite(this.prevGnorm) && this.prevGnorm > 0) {
      const prev = this.eta;
      let eta = this.gamma * Math.pow(gnorm / this.prevGnorm, this.alpha);
      const floor = this.gamma * Math.pow(prev, this.alpha);
      if (floor > 0.1) eta = Math.max(eta, floor);
      this.eta = Math.min(Math.max(eta, 1e-10), this.max);
    } else {
      this.eta = this.eta0;
    }
    this.prevGnorm = gnorm;
    return this.eta;
  }
}

function numberOption(o: Options, name: string, fallback: number, check: (v: number) => boolean, what: string): number {
  const s = o.get(name);
  if (s === undefined || s === '') return fallback;
  const v = Number(s);
  if (!Number.isFinite(v) || !check(v)) throw new Error(`petscml: option -${o.prefix}${name} must be ${what}, got '${s}'`);
  return v;
}

/** Every key SolverOptions has: anything else is a typo that would be silently ignored. */
const SOLVER_OPTION_KEYS = [
  'preset', 'cfg', 'prefix', 'label', 'params', 'hessian', 'epochs', 'budget', 'test', 'monitor', 'log', 'progress', 'sinks',
  'allRanks', 'sharePrefix', 'warmStart', 'checkpoint', 'resume', 'signal',
] as const;
const CHECKPOINT_KEYS = ['path', 'every', 'lmvmPoints'] as const;
const BUDGET_KEYS = ['oracleCalls'] as const;
const WARM_START_KEYS = ['oracleCalls', 'epochs'] as const;
const TEST_KEYS = ['data', 'metric', 'metricName', 'every'] as const;

function checkKeys(where: string, o: object, known: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (known.includes(k)) continue;
    const near = closeMatches(k, known);
    throw new TypeError(`petscml: ${where}: unknown option '${k}'` + (near.length ? ` (did you mean ${near.join(', ')}?)` : '') +
      `; known options are ${known.join(', ')}`);
  }
}

/**
 * PETSc 3.18 gives TAO lmvm's L-BFGS matrix the fixed options prefix 'tao_lmvm_' when the Tao is
 * created, before the Tao has a prefix, and TaoSetOptionsPrefix never passes it on: with a prefix,
 * -PREFIXtao_lmvm_mat_lmvm_hist_size is never read, only -tao_lmvm_mat_lmvm_hist_size is (see
 * `-help` of a prefixed lmvm Tao). These names are therefore inserted without the prefix, while
 * this solver reads its options; the other TAO types read all their options under the prefix.
 */
const UNPREFIXED_FOR_TYPE: Record<string, RegExp> = { lmvm: /^tao_lmvm_(mat|J0)_/ };

/** Names (relative to the prefix) and values in the database under `prefix`, as the user set them. */
function databaseOptions(prefix: string, withHeld = false): Map<string, string> {
  const out = new Map<string, string>();
  let name: string | undefined;
  for (const tok of Options.all().split(/\s+/)) {
    if (/^-[A-Za-z]/.test(tok)) {
      // Values another solver inserted for its own run are not the user's.
      name = tok.slice(1).startsWith(prefix) && (withHeld || !isHeld(tok.slice(1))) ? tok.slice(1 + prefix.length) : undefined;
      if (name !== undefined) out.set(name, '');
    } else if (name !== undefined && tok) {
      const prev = out.get(name);
      out.set(name, prev ? `${prev} ${tok}` : tok);
    }
  }
  return out;
}

type Source = 'the preset' | 'cfg' | 'epochs' | 'the mini-batches';

/**
 * Live solvers by prefix: a second one on a prefix in use is told so (see sharePrefix), once per
 * prefix while it has live solvers (a loop that creates solvers without destroying them is told
 * once, not at every iteration). Only a label and a flag are kept, never the solver: a solver dropped without destroy()
 * must stay collectable (holding it here kept every such solver, and its PETSc objects, forever).
 */
interface LiveEntry { label: string; share: boolean }
const livePrefixes = new Map<string, Map<number, LiveEntry>>();
const warnedPrefixes = new Set<string>();
let nextSolverId = 0;
const forgetLive = (key: { prefix: string; id: number; owned?: { attached?: Attached } }) => {
  try {
    key.owned?.attached?.release();
  } catch {
    // Collected after finalize(), or already gone: nothing left to free.
  }
  const live = livePrefixes.get(key.prefix);
  live?.delete(key.id);
  // The next time the prefix is shared, that is news again.
  if (!live?.size) warnedPrefixes.delete(key.prefix);
};
const collected = new FinalizationRegistry<{ prefix: string; id: number; owned: { attached?: Attached } }>(forgetLive);

/**
 * A configured TAO solver bound to an ObjectiveFunction. Create with {@link createSolver}.
 */
export class Solver {
  readonly tao!: Tao;
  readonly preset!: Preset;
  readonly label!: string;
  readonly prefix!: string;
  readonly hessian!: HessianKind | 'none';
  readonly batchesPerEpoch!: number;
  private x?: Vec;
  // What the solver owns beyond PETSc objects, reachable without the solver: a solver dropped
  // without destroy() still gets its Hessian operator (tfjs tensors) disposed once collected.
  private readonly owned: { attached?: Attached } = {};
  private scope!: ScopedOptions;
  private planned!: Plan;
  private solves = 0;
  private unprefixed: string[] = [];
  private options!: Options;
  private forcingOn = false;
  private sinks: RecordSink[] = [];
  private logFile?: string;
  private logEnabled = false;
  private start!: Float64Array;
  private samples?: number;
  private destroyed = false;
  private readonly liveId = nextSolverId++;
  private batchShares?: number[];
  private readonly opts: SolverOptions;
  private checkpointPath?: string;
  private resumePath?: string;
  private resumeFrom?: Checkpoint;
  private asyncRunning = false;

  constructor(readonly fn: ObjectiveFunction, opts: SolverOptions = {}) {
    this.opts = opts;
    const { size } = comm();
    // 1. Local validation, no collective and no PETSc object: on several ranks, every rank then
    //    agrees (one allreduce) before anything collective, so a rank that fails or differs makes
    //    every rank throw instead of leaving the others waiting in a collective.
    let plan: Plan | undefined;
    let failure: unknown;
    try {
      plan = this.plan(fn, opts);
    } catch (e) {
      failure = e;
    }
    agreeAcrossRanks('createSolver', AGREED_FIELDS, plan?.agreed, failure, ['tao_type', 'tao_max_it', 'options under the prefix', 'params (initial parameters)']);
    const p = plan!;
    this.planned = p;
    // 2. Build. A failure anywhere destroys what was built (collective) on every rank.
    try {
      if (size > 1) {
        const local = (fn as WithModel).datasetSize;
        const n = allreduce([local ?? 0, local === undefined ? 1 : 0], 'sum');
        this.samples = n[1] > 0 ? undefined : n[0];
      } else {
        this.samples = (fn as WithModel).datasetSize;
      }
      let err: unknown;
      try {
        this.build(p);
      } catch (e) {
        err = e;
      }
      if (size > 1) agreeOnFailure('createSolver', err);
      else if (err !== undefined) throw err;
    } catch (e) {
      this.destroy();
      throw e;
    }
    const live = livePrefixes.get(this.prefix) ?? new Map<number, LiveEntry>();
    const others = [...live.values()];
    if (others.length && !(opts.sharePrefix && others.every((s) => s.share)) && !warnedPrefixes.has(this.prefix)) {
      warnedPrefixes.add(this.prefix);
      process.emitWarning(`createSolver: ${this.label} uses the options prefix '${this.prefix}' of a live solver (${others[0].label}). ` +
        'Each keeps its own preset and cfg, but options under that prefix on the command line or set with Options reach both. ' +
        'Give each solver its own prefix, or pass sharePrefix: true to share on purpose.', { code: 'PETSCML_SHARED_PREFIX' });
    }
    live.set(this.liveId, { label: this.label, share: opts.sharePrefix === true });
    livePrefixes.set(this.prefix, live);
    collected.register(this, { prefix: this.prefix, id: this.liveId, owned: this.owned }, this);
  }

  private plan(fn: ObjectiveFunction, opts: SolverOptions): Plan {
    if (fn === null || typeof fn !== 'object' || typeof fn.objectiveAndGradient !== 'function' || !Number.isInteger(fn.size) || fn.size < 1) {
      throw argError('createSolver: fn', 'an ObjectiveFunction (size >= 1, objective, gradient, objectiveAndGradient)', fn);
    }
    if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw argError('createSolver: options', 'an object', opts);
    checkKeys('createSolver', opts, SOLVER_OPTION_KEYS);
    const prefix = opts.prefix ?? '';
    if (typeof prefix !== 'string' || !/^([A-Za-z][A-Za-z0-9_]*)?$/.test(prefix)) {
      throw argError('createSolver: prefix', "letters, digits and '_' (for example 'tr_')", opts.prefix);
    }
    (this as { prefix: string }).prefix = prefix;
    // -PREFIXpetscml_preset on the command line picks the preset, like -PREFIXtao_type picks a type.
    const fromCommandLine = new Options(prefix).get('petscml_preset');
    if (opts.preset !== undefined && typeof opts.preset !== 'string') throw argError('createSolver: preset', `one of ${presetNames().join(', ')}`, opts.preset);
    const presetName = (fromCommandLine || opts.preset || 'tr-gn') as PresetName;
    const preset = Object.prototype.hasOwnProperty.call(PRESETS, presetName) ? PRESETS[presetName] : undefined;
    if (!preset) {
      const near = closeMatches(String(presetName), presetNames());
      throw new Error(`petscml: createSolver: unknown preset '${String(presetName)}'${fromCommandLine ? ` (from -${prefix}petscml_preset)` : ''}; ` +
        `presets are ${presetNames().join(', ')}` + (near.length ? ` (did you mean ${near.join(', ')}?)` : ''));
    }
    (this as { preset: Preset }).preset = preset;
    if (opts.label !== undefined && typeof opts.label !== 'string') throw argError('createSolver: label', 'a string', opts.label);
    (this as { label: string }).label = opts.label ?? preset.label;
    if (opts.hessian !== undefined && !['exact', 'gauss-newton', 'none'].includes(opts.hessian as string)) {
      throw argError('createSolver: hessian', "'exact', 'gauss-newton' or 'none'", opts.hessian);
    }
    for (const k of ['allRanks', 'sharePrefix'] as const) {
      if (opts[k] !== undefined && typeof opts[k] !== 'boolean') throw argError(`createSolver: ${k}`, 'a boolean', opts[k]);
    }
    if (opts.monitor !== undefined && typeof opts.monitor !== 'function') throw argError('createSolver: monitor', 'a function (record) => void', opts.monitor);
    if (opts.log !== undefined && (typeof opts.log !== 'string' || !opts.log)) throw argError('createSolver: log', 'a file path', opts.log);
    if (opts.progress !== undefined && typeof opts.progress !== 'boolean' && (opts.progress === null || typeof opts.progress !== 'object')) {
      throw argError('createSolver: progress', 'a boolean or progress options', opts.progress);
    }
    if (opts.sinks !== undefined) {
      if (!Array.isArray(opts.sinks)) throw argError('createSolver: sinks', 'an array of { write(record), close?() }', opts.sinks);
      opts.sinks.forEach((s, i) => {
        if (s === null || typeof s !== 'object' || typeof s.write !== 'function' || (s.close !== undefined && typeof s.close !== 'function')) {
          throw argError(`createSolver: sinks[${i}]`, '{ write(record), close?() }', s);
        }
      });
    }
    if (opts.checkpoint !== undefined) {
      const c = opts.checkpoint;
      if (c === null || typeof c !== 'object') throw argError('createSolver: checkpoint', '{ path, every? }', c);
      checkKeys('createSolver: checkpoint', c, CHECKPOINT_KEYS);
      if (typeof c.path !== 'string' || !c.path) throw argError('createSolver: checkpoint.path', 'a file path', c.path);
      if (c.every !== undefined) checkCount('createSolver: checkpoint.every', c.every);
      if (c.lmvmPoints !== undefined) checkCount('createSolver: checkpoint.lmvmPoints', c.lmvmPoints);
    }
    if (opts.resume !== undefined && (typeof opts.resume !== 'string' || !opts.resume)) throw argError('createSolver: resume', 'the path of a checkpoint', opts.resume);
    if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal)) throw argError('createSolver: signal', 'an AbortSignal', opts.signal);
    const cfg = validateCfg(opts.cfg ?? {});
    if (opts.epochs !== undefined) checkCount('createSolver: epochs', opts.epochs);
    if (opts.budget !== undefined) {
      if (opts.budget === null || typeof opts.budget !== 'object') throw argError('createSolver: budget', '{ oracleCalls: number }', opts.budget);
      checkKeys('createSolver: budget', opts.budget, BUDGET_KEYS);
      checkCount('createSolver: budget.oracleCalls', opts.budget.oracleCalls);
    }
    if (opts.warmStart !== undefined) {
      const w = opts.warmStart;
      if (w === null || typeof w !== 'object') throw argError('createSolver: warmStart', '{ oracleCalls: number, epochs?: number }', w);
      checkKeys('createSolver: warmStart', w, WARM_START_KEYS);
      for (const k of WARM_START_KEYS) {
        const v = w[k];
        if (v === undefined && k === 'epochs') continue;
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
          throw new RangeError(`petscml: createSolver: warmStart.${k} must be a finite number >= 0, got ${typeof v === 'string' ? `'${v}'` : String(v)}`);
        }
      }
      if (opts.budget !== undefined && opts.budget.oracleCalls <= w.oracleCalls) {
        throw new RangeError(`petscml: createSolver: budget.oracleCalls (${opts.budget.oracleCalls}) counts the warm start too and must exceed warmStart.oracleCalls (${w.oracleCalls})`);
      }
    }
    if (opts.test !== undefined) {
      const t = opts.test;
      if (!t || typeof t !== 'object' || !t.data) throw argError('createSolver: test', '{ data: {x, y}, metric?, every? }', t);
      checkKeys('createSolver: test', t, TEST_KEYS);
      if (typeof (fn as WithModel).evaluate !== 'function') throw new Error('petscml: createSolver: a test set needs a function with evaluate() (createTfjsFunction)');
      if (t.every !== undefined) checkCount('createSolver: test.every', t.every);
      if (t.metric !== undefined && typeof t.metric !== 'function') throw argError('createSolver: test.metric', 'a function (prediction, target) => scalar', t.metric);
      if (t.metricName !== undefined && typeof t.metricName !== 'string') throw argError('createSolver: test.metricName', 'a string', t.metricName);
      // Shapes against the model, sample counts, finite values, a scalar metric: now, not at the
      // first iteration (and never a broadcast n x n difference).
      (fn as WithModel).checkData?.(t.data, 'createSolver: test.data', t.metric);
    }
    if (opts.params !== undefined && (opts.params === null || typeof opts.params !== 'object' || typeof (opts.params as ArrayLike<number>).length !== 'number')) {
      throw argError('createSolver: params', `an array of ${fn.size} numbers`, opts.params);
    }
    const start = opts.params !== undefined ? Float64Array.from(opts.params) : (fn as WithModel).initialParameters?.();
    if (!start) throw new Error('petscml: createSolver: give params (this function has no initialParameters())');
    if (start.length !== fn.size) throw new RangeError(`petscml: createSolver: params has ${start.length} values, the function has ${fn.size} parameters`);
    const bad = start.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new RangeError(`petscml: createSolver: params[${bad}] is ${start[bad]} (the initial parameters must be finite)`);
    this.start = start;

    // Options: preset < cfg < command line. The command line's (the database's) values win.
    const db = databaseOptions(prefix);
    const merged = new Map<string, { value: OptionValue; source: Source }>();
    for (const [k, v] of Object.entries(preset.options)) merged.set(k, { value: v, source: 'the preset' });
    for (const [k, v] of Object.entries(cfg)) merged.set(k, { value: v, source: 'cfg' });
    const b = batched(fn);
    const batches = b?.batchCount ?? 1;
    if (!(Number.isInteger(batches) && batches >= 1)) throw argError('createSolver: fn.batchCount', 'a positive integer', batches);
    (this as { batchesPerEpoch: number }).batchesPerEpoch = batches;
    const taoType = db.get('tao_type') || String(merged.get('tao_type')?.value ?? '');
    const firstOrder = firstOrderTypes.has(taoType);
    if (firstOrder) {
      const k = `tao_${taoType}_steps_per_epoch`;
      if (!merged.has(k)) merged.set(k, { value: batches, source: 'the mini-batches' });
    } else if (batches > 1) {
      throw new Error(`petscml: createSolver: '${taoType}' needs the full data set at each iteration, but the function has ` +
        `${batches} mini-batches; create the function without batchSize, or use a first-order preset (adam, adamw, sgd)`);
    }
    if (opts.epochs !== undefined && !merged.has('tao_max_it')) {
      const steps = opts.epochs! * (firstOrder ? batches : 1);
      if (steps > maxPetscInt()) {
        throw new RangeError(`petscml: createSolver: epochs ${opts.epochs} x ${batches} mini-batches = ${steps} iterations, more than PETSc's ` +
          `largest iteration count ${maxPetscInt()}`);
      }
      merged.set('tao_max_it', { value: steps, source: 'epochs' });
    }
    // Every number PETSc will parse, checked first: PETSc wraps large integers silently.
    for (const [k, { value, source }] of merged) {
      if (db.has(k) || value === false) continue;
      checkOptionValue(k, value === true ? null : value, source === 'epochs' ? 'epochs' : source, prefix);
    }
    for (const [k, v] of db) checkOptionValue(k, v === '' ? null : v, 'the command line (options database)', prefix);

    const entries: ScopedEntry[] = [];
    const origin = new Map<string, { key: string; source: Source | 'the command line' }>();
    const unprefixed = prefix ? UNPREFIXED_FOR_TYPE[taoType] : undefined;
    for (const [k, { value, source }] of merged) {
      if (value === false) continue;
      const v = value === true ? null : String(value);
      if (unprefixed?.test(k)) {
        // PETSc reads this one without the prefix: the command line's prefixed value, else ours.
        const given = db.get(k);
        entries.push({ name: k, value: given ?? v, force: true });
        origin.set(k, { key: k, source: given !== undefined ? 'the command line' : source });
      } else if (!db.has(k)) {
        entries.push({ name: prefix + k, value: v });
        origin.set(prefix + k, { key: k, source });
      }
    }
    if (unprefixed) {
      for (const [k, v] of db) {
        if (unprefixed.test(k) && !merged.has(k)) {
          entries.push({ name: k, value: v === '' ? null : v, force: true });
          origin.set(k, { key: k, source: 'the command line' });
        }
      }
    }
    const requested = opts.hessian ?? preset.hessian;
    let hessian: HessianKind | 'none' = firstOrder || taoType === 'lmvm' ? 'none' : requested;
    if (hessian === 'none' && !firstOrder && ['nls', 'ntr', 'ntl', 'bnls', 'bntr', 'bntl', 'tron'].includes(taoType)) {
      hessian = fn.hessian ? 'gauss-newton' : 'none';
    }
    (this as { hessian: HessianKind | 'none' }).hessian = hessian;
    const effective: Record<string, string> = {};
    for (const e of entries) effective[origin.get(e.name)!.key] = e.value ?? '';
    for (const [k, v] of db) effective[k] ??= v;
    const sorted = Object.fromEntries(Object.entries(effective).sort(([a], [c]) => a.localeCompare(c)));
    return {
      cfg, entries, origin, taoType, firstOrder, start,
      agreed: [
        preset.name, taoType, prefix, hessian, opts.epochs, effective.tao_max_it, batches, fn.size,
        JSON.stringify(Object.fromEntries(Object.entries(cfg).sort(([a], [c]) => a.localeCompare(c)))),
        JSON.stringify(sorted), opts.test ? `every ${opts.test.every ?? batches}` : 'none', vectorFingerprint(start),
        opts.budget?.oracleCalls ?? 'none',
        opts.warmStart ? `${opts.warmStart.oracleCalls} calls, ${opts.warmStart.epochs ?? 0} epochs` : 'none',
      ],
    };
  }

  private build(p: Plan): void {
    const fn = this.fn;
    const { rank, size } = comm();
    const opts = this.opts;
    this.options = new Options(this.prefix);
    this.scope = new ScopedOptions(p.entries);
    this.unprefixed = p.entries.filter((e) => e.force).map((e) => e.name);
    this.sinks = [...(opts.sinks ?? [])].filter(() => rank === 0 || opts.allRanks);
    if (opts.log !== undefined) {
      this.logFile = opts.log;
      this.logEnabled = rank === 0 || !!opts.allRanks;
    }
    if (opts.progress && (rank === 0 || opts.allRanks)) {
      const pr = new ProgressReporter({ label: this.label, ...(typeof opts.progress === 'object' ? opts.progress : {}) });
      this.sinks.push({ write: (r) => (r.type === 'iteration' ? pr.update(r) : r.type === 'summary' ? pr.finish(r) : undefined) });
    }
    this.x = size > 1 ? Vec.create({ global: fn.size, comm: 'world' }) : Vec.create(fn.size);
    this.resetSolution();
    this.configure(p, true);
    this.checkpointPath = opts.checkpoint?.path;
    if (opts.resume !== undefined) {
      const ck = readCheckpoint(opts.resume);
      checkIdentity(opts.resume, ck.identity, this.scope.run(() => this.identity()));
      checkContents(opts.resume, ck, fn.size);
      const moments = this.tao.type === 'sgd' ? 1 : 2;
      if (ck.state.firstOrder && moments === 2 && !ck.arrays.v) throw new Error(`petscml: ${opts.resume} is not a usable petscml checkpoint: it has no array 'v' (${this.tao.type} keeps two moments)`);
      this.resumePath = opts.resume;
      this.resumeFrom = ck;
    }
  }

  /** The options in force for this solver (inside its scope): what the header records. */
  private effectiveOptions(): Record<string, string> {
    const options = Object.fromEntries([...databaseOptions(this.prefix, true)].sort(([a], [c]) => a.localeCompare(c)));
    // Names PETSc reads without the prefix are this solver's settings all the same.
    for (const k of this.unprefixed) options[k] = petsc().options.getValue(`-${k}`) ?? '';
    return options;
  }

  /** What a checkpoint of this solver's run records about it (inside its scope). */
  identity(): CheckpointIdentity {
    const options = this.effectiveOptions();
    delete options.tao_max_it;
    return {
      parameters: this.fn.size, preset: this.preset.name, taoType: this.tao.type ?? '', hessian: this.hessian,
      batchesPerEpoch: this.batchesPerEpoch, samples: this.samples ?? null, ranks: comm().size,
      precision: precisionOf(this.fn) ?? null, options,
    };
  }

  /** Options a resumed trust-region solve starts with: the checkpoint's radius, as given. */
  private resumeEntries(ck: Checkpoint): ScopedEntry[] {
    const r = ck.state.trustRadius;
    const type = this.tao.type ?? this.planned.taoType;
    if (r === undefined || !(r > 0) || (type !== 'ntr' && type !== 'nls')) return [];
    return [
      { name: `${this.prefix}tao_trust0`, value: r.toPrecision(17), force: true },
      { name: `${this.prefix}tao_${type}_init_type`, value: 'constant', force: true },
    ];
  }

  /** Puts the checkpoint's parameters and solver state into the fresh Tao (collective). */
  private restoreState(ck: Checkpoint, forcing: Forcing | undefined): void {
    const [lo, hi] = this.x!.ownershipRange;
    this.x!.setArray(ck.arrays.x.subarray(lo, hi));
    const fo = ck.state.firstOrder;
    if (fo) {
      this.tao.setFirstOrderResume({
        step: fo.step, power1: fo.power1, power2: fo.power2,
        m: ck.arrays.m.slice(lo, hi), v: ck.arrays.v ? ck.arrays.v.slice(lo, hi) : null,
      });
    }
    const n = ck.state.lmvmPoints ?? 0;
    if (n > 0 && this.tao.lmvmUpdateCount >= 0) {
      const pts: Float64Array[] = [];
      for (let i = 0; i < n; i++) pts.push(ck.arrays[`lmvm.x.${i}`].slice(lo, hi), ck.arrays[`lmvm.g.${i}`].slice(lo, hi));
      this.tao.replayLMVM(pts);
    }
    if (forcing && ck.state.forcing) forcing.restore(ck.state.forcing);
  }

  /** For CheckpointWriter: this rank's block of x, and the pieces a checkpoint describes. */
  checkpointHost(): CheckpointHost {
    const self = this;
    return {
      // The Tao of the solve in progress (each solve after the first makes a new one).
      get tao() {
        return self.tao;
      },
      label: this.label, size: this.fn.size,
      localX: () => this.x!.withArray((a) => Float64Array.from(a)),
      range: () => this.x!.ownershipRange,
      identity: () => this.scope.run(() => this.identity()),
      // Once per epoch, and at least 10 iterations apart: a checkpoint of the reference MLP costs
      // 1-3 f+g (bench/long-runs.js), and an interrupt writes the last iteration's state anyway.
      every: this.opts.checkpoint?.every ?? Math.max(10, this.batchesPerEpoch),
      lmvmPoints: this.opts.checkpoint?.lmvmPoints,
      lmvmHistory: () => {
        const o = this.scope.run(() => this.effectiveOptions());
        const type = this.tao.type ?? '';
        const v = type === 'lmvm' ? o.tao_lmvm_mat_lmvm_hist_size : o[`tao_${type}_pc_lmvm_mat_lmvm_hist_size`];
        const n = Number(v);
        return Number.isInteger(n) && n > 0 ? n : 5; // PETSc's default history
      },
    };
  }

  /**
   * A new Tao with the function attached and this solver's options read. Each solve after the
   * first gets a new one too: TAO keeps state across TaoSolve calls (the L-BFGS preconditioner of
   * nls and ntr goes on from its last updates), and a repeated run must be the same run.
   */
  private configure(p: Plan, first: boolean, extra: ScopedEntry[] = []): void {
    const fn = this.fn;
    (this as { tao: Tao }).tao = new Tao({ comm: comm().size > 1 ? 'world' : 'self', prefix: this.prefix || undefined });
    // A float32 model overflowing at a far trial point is a training outcome TAO handles.
    this.tao.setAllowNonFinite(true);
    this.tao.setSolution(this.x!);
    this.owned.attached = attachFunction(this.tao, fn, { hessian: this.hessian });
    const scope = extra.length ? new ScopedOptions([...p.entries, ...extra]) : this.scope;
    scope.run(() => {
      this.tao.setFromOptions();
      const o = this.options;
      const forcing = o.get('petscml_forcing') ?? 'none';
      if (forcing !== 'ew' && forcing !== 'none') throw new Error(`petscml: option -${this.prefix}petscml_forcing must be 'ew' or 'none', got '${forcing}'`);
      this.forcingOn = forcing === 'ew';
      // Read (and so checked and marked used) now, whether or not forcing is on.
      this.newForcing();
      // After set-up, every option this solver set must be one PETSc (or petscml) read: an option
      // that cannot take effect is an error, never dropped without a word.
      const actual = this.tao.type ?? p.taoType;
      const dropped: string[] = [];
      for (const name of scope.inserted) {
        if (petsc().options.used(`-${name}`) || !p.origin.has(name)) continue;
        const { key, source } = p.origin.get(name)!;
        if (READ_LATE.test(key)) continue;
        if (source === 'cfg' || source === 'the command line') {
          const near = closeMatches(key, knownOptionNames());
          throw new Error(`petscml: createSolver: option '${key}' is not used by this solver (tao_type ${actual}` +
            `${this.prefix ? `, prefix '${this.prefix}'` : ''})` + (near.length ? `; did you mean ${near.join(', ')}?` : ''));
        }
        if (actual === this.preset.options.tao_type) {
          throw new Error(`petscml: createSolver: preset ${this.preset.name} sets -${name} (from ${source}), ` +
            `but PETSc never read it (tao_type ${actual}${this.prefix ? `, prefix '${this.prefix}'` : ''}): it cannot take effect`);
        }
        dropped.push(key);
      }
      if (dropped.length && first) {
        process.emitWarning(`createSolver: tao_type is ${actual}, not the preset ${this.preset.name}'s ${String(this.preset.options.tao_type)}: ` +
          `the preset's ${dropped.join(', ')} do not apply to it and were not used. Choose a preset for ${actual} ` +
          `(-${this.prefix}petscml_preset) to get its settings.`, { code: 'PETSCML_PRESET_OPTIONS_UNUSED' });
      }
    });
    const b = batched(fn);
    const actual = this.tao.type ?? p.taoType;
    if (firstOrderTypes.has(actual) && b) this.tao.setUpdate((k) => b.selectBatch(k % b.batchCount));
  }

  private newForcing(): Forcing {
    const o = this.options;
    return new Forcing(
      numberOption(o, 'petscml_forcing_eta0', 0.5, (v) => v > 0 && v < 1, 'in (0, 1)'),
      numberOption(o, 'petscml_forcing_gamma', 0.9, (v) => v > 0 && v <= 1, 'in (0, 1]'),
      numberOption(o, 'petscml_forcing_alpha', (1 + Math.sqrt(5)) / 2, (v) => v > 1 && v <= 2, 'in (1, 2]'),
      numberOption(o, 'petscml_forcing_max', 0.9, (v) => v > 0 && v < 1, 'in (0, 1)'));
  }

  private resetSolution(): void {
    const [lo, hi] = this.x!.ownershipRange;
    this.x!.setArray(this.start.subarray(lo, hi));
  }

  private counts(c: TaoCounts): RecordCounts {
    return {
      objective: c.objective, gradient: c.gradient, objectiveAndGradient: c.objectiveAndGradient,
      hessian: c.hessian, hessianProducts: c.hessianMult, kspIterations: c.kspIterations,
    };
  }

  /** Paper-style oracle calls from TAO's counts, for functions that keep none of their own. */
  private oracleFromCounts(c: TaoCounts): number {
    return c.objective + 2 * (c.gradient + c.objectiveAndGradient) + (this.hessian === 'exact' ? 4 : 2) * c.hessianMult;
  }

  private fullParameters(): Float64Array {
    return comm().size > 1 ? this.x!.gatherAll() : this.x!.toArray();
  }

  /**
   * The loss over every mini-batch at x, for reports: the function's oracle counts are restored
   * afterwards so that the accounting shows only what the solver used.
   */
  private datasetLoss(x: Float64Array): number {
    const b = batched(this.fn)!;
    const counts = this.fn.counts ? { ...this.fn.counts } : undefined;
    const keep = b.batchIndex ?? 0;
    // Batch b weighs N_b / N with N_b its size over all ranks (a data-parallel function already
    // scales each rank's part of a batch by its share of that batch).
    this.batchShares ??= (() => {
      const local = b.batchSizes ?? new Array<number>(b.batchCount).fill(1);
      const sizes = comm().size > 1 ? Array.from(allreduce(local, 'sum')) : local;
      const total = sizes.reduce((s, n) => s + n, 0);
      return sizes.map((n) => n / total);
    })();
    let loss = 0;
    try {
      for (let i = 0; i < b.batchCount; i++) {
        b.selectBatch(i);
        loss += this.fn.objective(x) * this.batchShares[i];
      }
    } finally {
      b.selectBatch(keep);
      if (counts) Object.assign(this.fn.counts!, counts);
    }
    return comm().size > 1 ? allreduce([loss], 'sum')[0] : loss;
  }

  /**
   * One run, always from the initial parameters (`params`, else the function's own at creation)
   * with fresh solver state: calling it again repeats the run, it does not continue the last one.
   * With `resume`, every call continues the checkpoint's run instead (see SolverOptions.resume).
   * The `log` file is rewritten by each run (one run per log; a resumed run appends to it); sinks
   * get every run's records and are closed by destroy(). Leaves the result in the model.
   */
  solve(): TrainResult {
    return this.run(false) as TrainResult;
  }

  /**
   * solve() without blocking Node's event loop (Tao.solveAsync): timers fire and requests are
   * answered while it runs; the callbacks (model, loss, monitor) still run on this thread. The
   * same result, options and records as solve(); `signal` (in SolverOptions) stops it at the next
   * iteration boundary. One at a time per process; until it settles, PETSc objects may be used
   * only inside its callbacks.
   */
  solveAsync(): Promise<TrainResult> {
    try {
      return this.run(true) as Promise<TrainResult>;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private run(async: boolean): TrainResult | Promise<TrainResult> {
    if (this.destroyed) throw new Error('petscml: Solver.solve: this solver was destroyed');
    const fn = this.fn as ObjectiveFunction & WithModel;
    const test = this.opts.test;
    const every = test?.every ?? this.batchesPerEpoch;
    const metric = test?.metric ?? meanRelativeError;
    const oracle0 = fn.counts?.oracleCalls ?? 0;
    const budget = this.opts.budget?.oracleCalls;
    const warmCalls = this.opts.warmStart?.oracleCalls ?? 0;
    const warmEpochs = this.opts.warmStart?.epochs ?? 0;
    const signal = this.opts.signal;
    const resumed = this.resumeFrom;
    const k0 = resumed?.progress.iteration ?? 0;
    const ckpt = this.checkpointPath !== undefined ? new CheckpointWriter(this, this.checkpointPath) : undefined;
    let overBudget = false;
    let aborted = false;
    const records: IterationRecord[] = [];
    let log: JsonlLog | undefined;
    const file = this.logFile;
    const openLog = (): JsonlLog => {
      if (!resumed || resumed.progress.logOffset === null) return JsonlLog.open(file!, { enabled: this.logEnabled });
      // The records after the checkpoint's iteration are recomputed: the log is cut back to it.
      const offset = resumed.progress.logOffset;
      if (this.logEnabled && offset !== null) {
        const size = fs.existsSync(file!) ? fs.statSync(file!).size : -1;
        if (size < offset) {
          throw new Error(`petscml: cannot resume the log ${file}: it has ${size < 0 ? 'gone' : `${size} bytes`}, the checkpoint's run had written ${offset}`);
        }
        fs.truncateSync(file!, offset);
      }
      return JsonlLog.open(file!, { enabled: this.logEnabled, append: true });
    };
    const sinks: RecordSink[] = file === undefined ? this.sinks
      : [...this.sinks, {
        write: (r) => {
          log ??= openLog();
          // The resumed log keeps its first header: the records continue the run it describes.
          if (!(resumed && r.type === 'header' && resumed.progress.logOffset !== null)) log.write(r);
        },
      }];
    const emit = (r: RunRecord): void => {
      for (const s of sinks) s.write(r);
      this.opts.monitor?.(r);
    };
    // `rethrow`: what this rank throws once the interrupted run is recorded (another rank's interrupt
    // reaches this one as the error naming it).
    type Outcome = { status?: TaoResult; stopped?: InterruptedError; rethrow?: unknown };
    let deferCleanup = false;
    const cleanup = () => {
      if (!this.tao.destroyed) this.tao.setMonitor(null);
      log?.close();
    };
    try {
      if (this.solves++ > 0 || resumed) {
        // A fresh TAO for every run after the first (see configure); a resumed one reads the
        // checkpoint's trust radius as its initial one.
        const extra = resumed ? this.resumeEntries(resumed) : [];
        this.tao.setMonitor(null);
        this.owned.attached?.destroy();
        this.owned.attached = undefined;
        this.tao.destroy();
        this.configure(this.planned, false, extra);
      }
      this.resetSolution();
      const forcing = this.forcingOn ? this.newForcing() : undefined;
      // Progress carried over from the checkpoint (zero for a fresh run).
      let runMin = resumed?.progress.minLoss ?? Infinity;
      let runMinMetric = resumed?.progress.minTestMetric ?? null;
      let lastMetric: number | null = resumed?.progress.lastMetric ?? null;
      const recent: number[] = [...(resumed?.progress.recentLosses ?? [])];
      let offsets: { oracle: number; time: number; counts: RecordCounts } | undefined;
      if (resumed) this.restoreState(resumed, forcing);
      // The run's iteration budget (tao_max_it in force) counts the checkpoint's iterations too.
      if (resumed) this.tao.maxIterations = Math.max(0, this.tao.maxIterations - k0);
      ckpt?.start(resumed);
      const t0 = performance.now();
      let header!: HeaderRecord;
      const record = (s: TaoStatus): IterationRecord => {
        const c = this.tao.counts;
        const k = k0 + s.iteration;
        let testMetric: number | null = null;
        if (test && k % every === 0) {
          testMetric = fn.evaluate!(this.fullParameters(), test.data, metric);
        }
        const trainLoss = this.batchesPerEpoch === 1 ? s.f : k % this.batchesPerEpoch === 0 ? this.datasetLoss(this.fullParameters()) : null;
        const oracleHere = fn.counts ? fn.counts.oracleCalls - oracle0 : this.oracleFromCounts(c);
        const countsHere = this.counts(c);
        const timeHere = (performance.now() - t0) / 1000;
        // A resumed run's first record is the checkpoint's iteration, recomputed: from there its
        // counts, calls and time continue the checkpoint's.
        offsets ??= resumed
          ? { oracle: resumed.progress.oracleCalls - oracleHere, time: resumed.progress.time - timeHere, counts: subtractCounts(resumed.progress.counts, countsHere) }
          : { oracle: warmCalls, time: 0, counts: zeroCounts() };
        const r: IterationRecord = {
          type: 'iteration', iteration: k, epoch: warmEpochs + k / this.batchesPerEpoch, loss: s.f, trainLoss, gradNorm: s.gnorm,
          testMetric, counts: addCounts(countsHere, offsets.counts),
          oracleCalls: offsets.oracle + oracleHere,
          trustRadius: s.trustRadius > 0 ? s.trustRadius : null,
          stepLength: s.stepLength !== undefined && this.tao.type !== 'ntr' ? s.stepLength : null,
          time: offsets.time + timeHere,
        };
        // TAO reports a fresh solve's first step as 1; the checkpoint knows the step that led here.
        if (resumed && records.length === 0 && resumed.progress.stepLength !== undefined) r.stepLength = resumed.progress.stepLength;
        // The state to continue from at this iteration, taken before its record is written.
        ckpt?.capture(s, r, forcing, {
          logOffset: file !== undefined && log ? log.position : null,
          minLoss: Number.isFinite(runMin) ? runMin : null, minTestMetric: runMinMetric, lastMetric, recentLosses: recent.slice(-3),
        });
        records.push(r);
        emit(r);
        if (testMetric !== null) {
          lastMetric = testMetric;
          runMinMetric = runMinMetric === null ? testMetric : Math.min(runMinMetric, testMetric);
        }
        if (r.trainLoss !== null && r.trainLoss !== undefined) runMin = Math.min(runMin, r.trainLoss);
        recent.push(r.trainLoss ?? (this.batchesPerEpoch === 1 ? r.loss : NaN));
        if (recent.length > 3) recent.shift();
        ckpt?.maybeWrite(k);
        // Oracle counts are the same on every rank, so every rank stops at this iteration.
        if (budget !== undefined && !overBudget && r.oracleCalls >= budget) {
          overBudget = true;
          this.tao.stop();
        }
        if (signal && !aborted && agreedFlag(signal.aborted)) {
          aborted = true;
          this.tao.stop();
        }
        return r;
      };
      this.tao.setMonitor((s) => {
        record(s);
      });
      if (forcing) {
        const ksp = this.tao.ksp;
        this.tao.setUpdate(() => {
          if (ksp) ksp.setTolerances({ rtol: forcing.next(this.tao.status.gnorm) });
        });
      }
      const start = () => {
        header = {
          type: 'header', solver: this.label, taoType: this.tao.type ?? '', prefix: this.prefix, hessian: this.hessian,
          parameters: this.fn.size, samples: this.samples, batchesPerEpoch: this.batchesPerEpoch,
          metric: test ? (test.metricName ?? (test.metric ? 'metric' : 'mean relative error')) : undefined,
          options: this.effectiveOptions(), ranks: comm().size, started: new Date().toISOString(), petscmlVersion: version,
          ...(this.opts.warmStart ? { warmStart: { oracleCalls: warmCalls, epochs: warmEpochs } } : {}),
          ...(precisionOf(this.fn) ? { precision: precisionOf(this.fn) } : {}),
          ...(resumed ? { resumed: { from: this.resumePath!, iteration: k0 } } : {}),
        };
        emit(header);
      };
      const interrupted = (e: unknown): Outcome => {
        if (e instanceof InterruptedError) return { stopped: e };
        // Every rank must take the same path: the checkpoint is written collectively.
        const m = /rank (\d+) was interrupted by (SIGINT|SIGTERM)/.exec(e instanceof Error ? e.message : '');
        if (!m) throw e;
        const stopped = new InterruptedError(`petscml: the solve was interrupted by ${m[2]} on rank ${m[1]}`);
        stopped.signal = m[2];
        stopped.rank = Number(m[1]);
        return { stopped, rethrow: e };
      };
      const finish = (outcome: Outcome): TrainResult => {
        const stopped = outcome.stopped;
        if (stopped !== undefined) {
          // Interrupted (SIGINT, SIGTERM) at a callback boundary: what the last completed
          // iteration left is kept, and the log says how the run ended.
          const e = stopped;
          const at = ckpt?.writeLast();
          const last = records[records.length - 1];
          const summary: SummaryRecord = {
            type: 'summary', iterations: last?.iteration ?? k0, epochs: last?.epoch ?? warmEpochs + k0 / this.batchesPerEpoch,
            loss: last?.loss ?? NaN, minLoss: Math.min(runMin, last?.trainLoss ?? Infinity), gradNorm: last?.gradNorm ?? NaN,
            testMetric: lastMetric, minTestMetric: runMinMetric, oracleCalls: last?.oracleCalls ?? offsets?.oracle ?? 0,
            counts: last?.counts ?? zeroCounts(), time: (offsets?.time ?? 0) + (performance.now() - t0) / 1000,
            reason: 'INTERRUPTED', converged: false,
          };
          const why = explainStop('INTERRUPTED', { iterations: summary.iterations, signal: e.signal, checkpoint: at });
          summary.explanation = why.explanation;
          if (why.hint) summary.hint = why.hint;
          emit(summary);
          throw outcome.rethrow ?? e;
        }
        const status = outcome.status!;
        const time = (offsets?.time ?? 0) + (performance.now() - t0) / 1000;
        const x = this.fullParameters();
        fn.setParameters?.(x);
        const c = this.tao.counts;
        const oracleCalls = (offsets?.oracle ?? warmCalls) + (fn.counts ? fn.counts.oracleCalls - oracle0 : this.oracleFromCounts(c));
        // The loss of the whole training set: TAO's last f with full batches.
        const loss = this.batchesPerEpoch > 1 ? this.datasetLoss(x) : status.f;
        const finalMetric = test ? fn.evaluate!(x, test.data, metric) : null;
        if (test && records.length && records[records.length - 1].testMetric === null) lastMetric = finalMetric;
        const metrics = [...records.map((r) => r.testMetric), runMinMetric].filter((m): m is number => m !== null);
        if (finalMetric !== null) metrics.push(finalMetric);
        const iterations = k0 + status.iterations;
        const userStop = status.reasonName === 'CONVERGED_USER';
        const summary: SummaryRecord = {
          type: 'summary', iterations, epochs: warmEpochs + iterations / this.batchesPerEpoch, loss,
          minLoss: Math.min(loss, runMin, ...records.map((r) => r.trainLoss ?? Infinity)), gradNorm: status.gnorm,
          testMetric: finalMetric ?? lastMetric, minTestMetric: metrics.length ? Math.min(...metrics) : null,
          oracleCalls, counts: addCounts(this.counts(c), offsets?.counts ?? zeroCounts()), time,
          ...(overBudget && userStop ? { reason: 'ORACLE_BUDGET', converged: false }
            : aborted && userStop ? { reason: 'ABORTED', converged: false }
            : { reason: status.reasonName, converged: status.converged }),
        };
        const at = ckpt?.writeLast();
        const why = explainStop(summary.reason, {
          taoType: this.tao.type ?? undefined, iterations, budget,
          epochs: this.planned.origin.get(this.prefix + 'tao_max_it')?.source === 'epochs' ? this.opts.epochs : undefined,
          oracleCalls, gradNorm: status.gnorm, firstOrder: this.planned.firstOrder,
          recentLosses: recent.slice(-3), checkpoint: at,
        });
        summary.explanation = why.explanation;
        if (why.hint) summary.hint = why.hint;
        emit(summary);
        return { x, status: { ...status, iterations, iteration: iterations }, summary, header, records };
      };
      if (async) {
        // The promise cleans up when it settles, not the finally below.
        deferCleanup = true;
        this.asyncRunning = true;
        return this.scope.runAsync(async (): Promise<Outcome> => {
          start();
          return this.tao.solveAsync().then((st): Outcome => ({ status: st }), interrupted);
        }).finally(() => {
          this.asyncRunning = false;
        }).then(finish).finally(cleanup);
      }
      const outcome = this.scope.run((): Outcome => {
        start();
        try {
          return { status: this.tao.solve() };
        } catch (e) {
          return interrupted(e);
        }
      });
      return finish(outcome);
    } finally {
      if (!deferCleanup) cleanup();
    }
  }

  /** Frees the solver, its Hessian operator and its sinks (collective). Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    if (this.asyncRunning) throw new Error('petscml: Solver.destroy: cannot destroy this solver while its solveAsync() runs (await it first)');
    this.destroyed = true;
    forgetLive({ prefix: this.prefix, id: this.liveId });
    collected.unregister(this);
    const errors: unknown[] = [];
    const attempt = (f: () => void) => {
      try {
        f();
      } catch (e) {
        errors.push(e);
      }
    };
    attempt(() => this.owned.attached?.destroy());
    attempt(() => this.x?.destroy());
    attempt(() => this.tao?.destroy());
    for (const s of this.sinks) attempt(() => s.close?.());
    if (errors.length) throw errors[0];
  }
}

/** The fields every rank must agree on before a solver is built (see agree.ts). */
const AGREED_FIELDS = [
  'preset', 'tao_type', 'prefix', 'hessian', 'epochs', 'tao_max_it', 'mini-batches per epoch', 'parameter count (fn.size)',
  'cfg', 'options under the prefix', 'test set', 'params (initial parameters)', 'budget (oracle calls)', 'warmStart',
] as const;

interface Plan {
  cfg: Record<string, OptionValue>;
  entries: ScopedEntry[];
  origin: Map<string, { key: string; source: Source | 'the command line' }>;
  taoType: string;
  firstOrder: boolean;
  start: Float64Array;
  agreed: unknown[];
}

/** Creates a solver for `fn`; see {@link SolverOptions}. */
export function createSolver(fn: ObjectiveFunction, options: SolverOptions = {}): Solver {
  return new Solver(fn, options);
}

const COUNT_KEYS = ['objective', 'gradient', 'objectiveAndGradient', 'hessian', 'hessianProducts', 'kspIterations'] as const;
function zeroCounts(): RecordCounts {
  return { objective: 0, gradient: 0, objectiveAndGradient: 0, hessian: 0, hessianProducts: 0, kspIterations: 0 };
}
function addCounts(a: RecordCounts, b: RecordCounts): RecordCounts {
  const r = zeroCounts();
  for (const k of COUNT_KEYS) r[k] = a[k] + b[k];
  return r;
}
function subtractCounts(a: RecordCounts, b: RecordCounts): RecordCounts {
  const r = zeroCounts();
  for (const k of COUNT_KEYS) r[k] = a[k] - b[k];
  return r;
}
/** True on every rank when it is true on any (one reduction, only with several ranks). */
function agreedFlag(flag: boolean): boolean {
  return comm().size > 1 ? allreduce([flag ? 1 : 0], 'max')[0] > 0 : flag;
}

/**
 * Points of the L-BFGS matrix a checkpoint keeps by default: all of them since its last reset (so
 * that a resumed run is the same run, TAO's diagonal scaling included) up to 64 MiB of them, and
 * never fewer than the history + 1 (which restores the (s, y) pairs themselves).
 */
export function defaultLmvmPoints(history: number, size: number): number {
  return Math.max(history + 1, Math.min(1000, Math.floor((64 * 2 ** 20) / (16 * size))));
}

/** What a CheckpointWriter needs of its solver. */
interface CheckpointHost {
  tao: Tao;
  label: string;
  size: number;
  localX(): Float64Array;
  range(): [number, number];
  identity(): CheckpointIdentity;
  every: number;
  lmvmPoints?: number;
  lmvmHistory(): number;
}

interface Snapshot {
  iteration: number;
  x: Float64Array;
  g?: Float64Array;
  firstOrder?: { step: number; power1: number; power2: number; m: Float64Array; v: Float64Array | null };
  trustRadius?: number;
  forcing?: { prevGnorm: number | null; eta: number };
  lmvm: { x: Float64Array; g: Float64Array }[];
  progress: CheckpointProgress;
}

/**
 * Takes the run's state at every iteration boundary (this rank's blocks, in memory) and writes it
 * every `every` iterations, at the end and on an interrupt. An iteration's state is taken before
 * its record is written: the resumed run recomputes that iteration first.
 */
class CheckpointWriter {
  private last?: Snapshot;
  private written = -1;
  private k0 = 0;
  private replayed = 0;
  private first = true;
  private ring: { iteration: number; x: Float64Array; g: Float64Array }[] = [];
  private ringCap = 0;
  private prevStatus?: { iteration: number; f: number; gnorm: number };
  private trustRegion = false;
  private readonly host: CheckpointHost;
  private readonly identity: CheckpointIdentity;

  constructor(solver: Solver, private readonly path: string) {
    this.host = solver.checkpointHost();
    this.identity = this.host.identity();
  }

  start(resumed: Checkpoint | undefined): void {
    this.k0 = resumed?.progress.iteration ?? 0;
    this.written = resumed ? this.k0 : -1;
    this.first = true;
    this.prevStatus = undefined;
    this.trustRegion = this.host.tao.type === 'ntr';
    const lmvm = this.host.tao.lmvmUpdateCount >= 0;
    this.ringCap = lmvm ? this.host.lmvmPoints ?? defaultLmvmPoints(this.host.lmvmHistory(), this.host.size) : 0;
    this.ring = [];
    const n = resumed?.state.lmvmPoints ?? 0;
    this.replayed = lmvm ? n : 0;
    if (resumed && lmvm) {
      const [lo, hi] = this.host.range();
      for (let i = 0; i < n; i++) {
        this.ring.push({ iteration: this.k0 - n + i, x: resumed.arrays[`lmvm.x.${i}`].slice(lo, hi), g: resumed.arrays[`lmvm.g.${i}`].slice(lo, hi) });
      }
    }
  }

  capture(s: TaoStatus, r: IterationRecord, forcing: Forcing | undefined,
    rest: Omit<CheckpointProgress, 'iteration' | 'oracleCalls' | 'counts' | 'time'>): void {
    const tao = this.host.tao;
    // ntr also reports a rejected trial step, inside its iteration, at the unchanged point (same
    // f and gradient norm: an accepted step always lowers f). Resuming there would start a new
    // iteration; the state stays the last completed iteration's, which redoes that trial exactly.
    const p = this.prevStatus;
    this.prevStatus = { iteration: s.iteration, f: s.f, gnorm: s.gnorm };
    if (this.trustRegion && p && !this.first && s.iteration === p.iteration + 1 && s.f === p.f && s.gnorm === p.gnorm) return;
    // nls and ntr with an interpolated initial radius report iteration 0 twice, at one point: the
    // later report (with the radius in force) replaces the earlier one, which the matrix never saw.
    const again = p !== undefined && s.iteration === p.iteration && s.f === p.f && s.gnorm === p.gnorm;
    if (again && this.ring.length && this.ring[this.ring.length - 1].iteration === r.iteration) this.ring.pop();
    const x = this.host.localX();
    const fo = tao.firstOrderState;
    // Points the LMVM matrix holds now: those fed at the start of each iteration since its last
    // reset (the current point is fed at the next one). At a solve's first boundary: those replayed.
    let lmvm: Snapshot['lmvm'] = [];
    let g: Float64Array | undefined;
    if (this.ringCap > 0) {
      const held = this.first ? this.replayed : tao.lmvmUpdateCount + 1;
      lmvm = held > 0 ? this.ring.slice(-Math.min(held, this.ringCap)) : [];
      g = tao.gradientArray() ?? undefined;
    }
    this.first = false;
    this.last = {
      iteration: r.iteration, x, g,
      firstOrder: fo ? { step: fo.step, power1: fo.power1, power2: fo.power2, m: fo.m, v: fo.v } : undefined,
      trustRadius: s.trustRadius > 0 ? s.trustRadius : undefined,
      forcing: forcing?.state(),
      lmvm,
      progress: { iteration: r.iteration, oracleCalls: r.oracleCalls, counts: r.counts, time: r.time, stepLength: r.stepLength ?? null, ...rest },
    };
    if (g) {
      this.ring.push({ iteration: r.iteration, x, g });
      if (this.ring.length > this.ringCap) this.ring.shift();
    }
  }

  /** Writes at every `every`-th iteration past the start (collective). */
  maybeWrite(k: number): void {
    if (k > this.k0 && k % this.host.every === 0) this.write();
  }

  /** Writes the last iteration's state unless written already; returns the path (collective). */
  writeLast(): string | undefined {
    if (!this.last) return undefined;
    if (this.last.iteration !== this.written) this.write();
    return this.path;
  }

  private write(): void {
    const s = this.last!;
    const full = (local: Float64Array): Float64Array => {
      if (comm().size === 1) return local;
      const [lo] = this.host.range();
      const a = new Float64Array(this.host.size);
      a.set(local, lo);
      return allreduce(a, 'sum');
    };
    const arrays: Record<string, Float64Array> = { x: full(s.x) };
    const state: CheckpointSolverState = {};
    if (s.firstOrder) {
      state.firstOrder = { step: s.firstOrder.step, power1: s.firstOrder.power1, power2: s.firstOrder.power2 };
      arrays.m = full(s.firstOrder.m);
      if (s.firstOrder.v) arrays.v = full(s.firstOrder.v);
    }
    if (s.trustRadius !== undefined) state.trustRadius = s.trustRadius;
    if (s.forcing) state.forcing = s.forcing;
    if (s.lmvm.length) {
      state.lmvmPoints = s.lmvm.length;
      s.lmvm.forEach((p, i) => {
        arrays[`lmvm.x.${i}`] = full(p.x);
        arrays[`lmvm.g.${i}`] = full(p.g);
      });
    }
    let err: unknown;
    if (comm().rank === 0) {
      try {
        writeCheckpoint(this.path, { petscmlVersion: version, label: this.host.label, identity: this.identity, progress: s.progress, state, arrays });
      } catch (e) {
        err = e;
      }
    }
    if (comm().size > 1) agreeOnFailure('checkpoint', err);
    else if (err !== undefined) throw err;
    this.written = s.iteration;
  }
}
