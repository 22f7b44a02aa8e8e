/**
 * The one-line solver (paper, section 3): a function, a preset or PETSc options, initial
 * parameters and a monitor in; a configured TAO solver out.
 *
 *   const solver = createSolver(fn, { preset: 'tr-gn', prefix: 'tr_', epochs: 100, log: 'tr.jsonl' });
 *   const result = solver.solve();
 *
 * Option precedence, lowest first: the preset, `cfg`, the command line (`-tr_tao_ntr_ksp_max_it 50`).
 */
import type { Batch, Metric } from '../functions';
import { meanRelativeError } from '../functions/losses';
import type { HessianKind, ObjectiveFunction } from '../functions/types';
import type { HeaderRecord, IterationRecord, RecordCounts, RunRecord, SummaryRecord } from '../monitor/record';
import { JsonlLog } from '../monitor/log';
import { ProgressReporter, type ProgressOptions } from '../monitor/progress';
import { argError } from '../petsc/errors';
import { allreduce, comm } from '../petsc/init';
import { Options, type OptionValue } from '../petsc/options';
import { Tao, type TaoCounts, type TaoResult, type TaoStatus } from '../petsc/tao';
import { Vec } from '../petsc/vec';
import { attachFunction, type Attached } from './attach';
import { FIRST_ORDER_OPTIONS, FIRST_ORDER_TYPES, firstOrderOptionName } from './first-order';
import { PRESETS, presetNames, type Preset, type PresetName } from './presets';

const firstOrderTypes: ReadonlySet<string> = new Set(FIRST_ORDER_TYPES);

/** Somewhere records go: a JSON-lines log, a progress line, a user callback. */
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

/**
 * A configured TAO solver bound to an ObjectiveFunction. Create with {@link createSolver}.
 */
export class Solver {
  readonly tao: Tao;
  readonly preset: Preset;
  readonly label: string;
  readonly prefix: string;
  readonly hessian: HessianKind | 'none';
  readonly batchesPerEpoch: number;
  private readonly x: Vec;
  private readonly attached: Attached;
  private readonly inserted: string[] = [];
  private readonly options: Options;
  private readonly forcing?: Forcing;
  private readonly sinks: RecordSink[];
  private destroyed = false;
  private batchShares?: number[];

  constructor(readonly fn: ObjectiveFunction, private readonly opts: SolverOptions = {}) {
    if (fn === null || typeof fn !== 'object' || typeof fn.objectiveAndGradient !== 'function' || !Number.isInteger(fn.size)) {
      throw argError('createSolver: fn', 'an ObjectiveFunction (size, objective, gradient, objectiveAndGradient)', fn);
    }
    if (opts === null || typeof opts !== 'object') throw argError('createSolver: options', 'an object', opts);
    // -PREFIXpetscml_preset on the command line picks the preset, like -PREFIXtao_type picks a type.
    const fromCommandLine = new Options(opts.prefix ?? '').get('petscml_preset');
    const presetName = (fromCommandLine || opts.preset || 'tr-gn') as PresetName;
    const preset = PRESETS[presetName];
    if (!preset) {
      const near = closeMatches(String(presetName), presetNames());
      throw new Error(`petscml: createSolver: unknown preset '${String(presetName)}'; presets are ${presetNames().join(', ')}` +
        (near.length ? ` (did you mean ${near.join(', ')}?)` : ''));
    }
    this.preset = preset;
    this.prefix = opts.prefix ?? '';
    if (typeof this.prefix !== 'string' || !/^([A-Za-z][A-Za-z0-9_]*)?$/.test(this.prefix)) {
      throw argError('createSolver: prefix', "letters, digits and '_' (for example 'tr_')", opts.prefix);
    }
    this.label = opts.label ?? preset.label;
    const cfg = validateCfg(opts.cfg ?? {});
    if (opts.epochs !== undefined && !(Number.isInteger(opts.epochs) && opts.epochs > 0)) {
      throw argError('createSolver: epochs', 'a positive integer', opts.epochs);
    }
    if (opts.test !== undefined) {
      if (!opts.test || typeof opts.test !== 'object' || !opts.test.data) throw argError('createSolver: test', '{ data: {x, y}, metric?, every? }', opts.test);
      if (typeof (fn as WithModel).evaluate !== 'function') throw new Error('petscml: createSolver: a test set needs a function with evaluate() (createTfjsFunction)');
      if (opts.test.every !== undefined && !(Number.isInteger(opts.test.every) && opts.test.every > 0)) {
        throw argError('createSolver: test.every', 'a positive integer', opts.test.every);
      }
    }
    const start = opts.params !== undefined ? Float64Array.from(opts.params) : (fn as WithModel).initialParameters?.();
    if (!start) throw new Error('petscml: createSolver: give params (this function has no initialParameters())');
    if (start.length !== fn.size) throw new Error(`petscml: createSolver: params has ${start.length} values, the function has ${fn.size} parameters`);
    if (!start.every(Number.isFinite)) throw new Error('petscml: createSolver: params contains NaN or Infinity');

    // Options: preset < cfg < command line. What the command line already holds is left alone.
    this.options = new Options(this.prefix);
    const merged: Record<string, OptionValue> = { ...preset.options, ...cfg };
    const b = batched(fn);
    this.batchesPerEpoch = b?.batchCount ?? 1;
    const taoType = this.options.get('tao_type') ?? String(merged.tao_type);
    const firstOrder = firstOrderTypes.has(taoType);
    if (firstOrder) merged[`tao_${taoType}_steps_per_epoch`] ??= this.batchesPerEpoch;
    else if (this.batchesPerEpoch > 1) {
      throw new Error(`petscml: createSolver: '${taoType}' needs the full data set at each iteration, but the function has ` +
        `${this.batchesPerEpoch} mini-batches; create the function without batchSize, or use a first-order preset (adam, adamw, sgd)`);
    }
    if (opts.epochs !== undefined) merged.tao_max_it ??= opts.epochs * (firstOrder ? this.batchesPerEpoch : 1);
    for (const [k, v] of Object.entries(merged)) {
      if (v === false || this.options.has(k)) continue;
      this.options.set(k, v);
      this.inserted.push(k);
    }

    const size = comm().size;
    const { rank } = comm();
    this.sinks = [...(opts.sinks ?? [])].filter(() => rank === 0 || opts.allRanks);
    if (opts.log !== undefined) {
      if (typeof opts.log !== 'string' || !opts.log) throw argError('createSolver: log', 'a file path', opts.log);
      const file = opts.log;
      let log: JsonlLog | undefined; // opened at the first record: a solver that fails to configure leaves no file
      this.sinks.push({ write: (r) => (log ??= JsonlLog.open(file, { enabled: rank === 0 || !!opts.allRanks })).write(r), close: () => log?.close() });
    }
    if (opts.progress && (rank === 0 || opts.allRanks)) {
      const p = new ProgressReporter({ label: this.label, ...(typeof opts.progress === 'object' ? opts.progress : {}) });
      this.sinks.push({ write: (r) => (r.type === 'iteration' ? p.update(r) : r.type === 'summary' ? p.finish(r) : undefined) });
    }
    this.tao = new Tao({ comm: size > 1 ? 'world' : 'self', prefix: this.prefix || undefined });
    try {
      this.x = size > 1 ? Vec.create({ global: fn.size, comm: 'world' }) : Vec.create(fn.size);
      const [lo, hi] = this.x.ownershipRange;
      this.x.setArray(start.subarray(lo, hi));
      this.tao.setSolution(this.x);
      const requested = opts.hessian ?? preset.hessian;
      this.hessian = firstOrder || taoType === 'lmvm' ? 'none' : requested;
      if (this.hessian === 'none' && !firstOrder && ['nls', 'ntr', 'ntl', 'bnls', 'bntr', 'bntl', 'tron'].includes(taoType)) {
        this.hessian = fn.hessian ? 'gauss-newton' : 'none';
      }
      this.attached = attachFunction(this.tao, fn, { hessian: this.hessian });
      this.tao.setFromOptions();
      const o = this.options;
      if ((o.get('petscml_forcing') ?? 'none') === 'ew') {
        this.forcing = new Forcing(
          numberOption(o, 'petscml_forcing_eta0', 0.5, (v) => v > 0 && v < 1, 'in (0, 1)'),
          numberOption(o, 'petscml_forcing_gamma', 0.9, (v) => v > 0 && v <= 1, 'in (0, 1]'),
          numberOption(o, 'petscml_forcing_alpha', (1 + Math.sqrt(5)) / 2, (v) => v > 1 && v <= 2, 'in (1, 2]'),
          numberOption(o, 'petscml_forcing_max', 0.9, (v) => v > 0 && v < 1, 'in (0, 1)'));
      } else if (o.has('petscml_forcing') && o.get('petscml_forcing') !== 'none') {
        throw new Error(`petscml: option -${this.prefix}petscml_forcing must be 'ew' or 'none', got '${o.get('petscml_forcing')}'`);
      }
      for (const k of ['petscml_forcing_eta0', 'petscml_forcing_gamma', 'petscml_forcing_alpha', 'petscml_forcing_max']) o.get(k);
      // A cfg key PETSc never read is a typo or belongs to another solver type: say so now.
      for (const k of Object.keys(cfg)) {
        if (READ_LATE.test(k) || cfg[k] === false || this.options.used(k)) continue;
        const near = closeMatches(k, knownOptionNames());
        throw new Error(`petscml: createSolver: option '${k}' is not used by this solver (tao_type ${this.tao.type}` +
          `${this.prefix ? `, prefix '${this.prefix}'` : ''})` + (near.length ? `; did you mean ${near.join(', ')}?` : ''));
      }
      const actual = this.tao.type ?? taoType;
      if (firstOrderTypes.has(actual) && b) this.tao.setUpdate((k) => b.selectBatch(k % b.batchCount));
    } catch (e) {
      this.destroy();
      throw e;
    }
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

  private emit(r: RunRecord): void {
    for (const s of this.sinks) s.write(r);
    this.opts.monitor?.(r);
  }

  private fullParameters(): Float64Array {
    return comm().size > 1 ? this.x.gatherAll() : this.x.toArray();
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

  /** Runs the solver from the initial parameters; leaves the result in the model. */
  solve(): TrainResult {
    if (this.destroyed) throw new Error('petscml: Solver.solve: this solver was destroyed');
    const fn = this.fn as ObjectiveFunction & WithModel;
    const test = this.opts.test;
    const every = test?.every ?? this.batchesPerEpoch;
    const metric = test?.metric ?? meanRelativeError;
    const oracle0 = fn.counts?.oracleCalls ?? 0;
    const records: IterationRecord[] = [];
    const t0 = performance.now();
    const options: Record<string, string> = {};
    let name: string | undefined;
    for (const tok of Options.all().split(/\s+/)) {
      if (/^-[A-Za-z]/.test(tok)) {
        name = tok.slice(1);
        if (name.startsWith(this.prefix)) options[name.slice(this.prefix.length)] = '';
        else name = undefined;
      } else if (name !== undefined && tok) {
        const k = name.slice(this.prefix.length);
        options[k] = options[k] ? `${options[k]} ${tok}` : tok;
      }
    }
    const header: HeaderRecord = {
      type: 'header', solver: this.label, taoType: this.tao.type ?? '', prefix: this.prefix, hessian: this.hessian,
      parameters: this.fn.size, samples: fn.datasetSize, batchesPerEpoch: this.batchesPerEpoch,
      metric: test ? (test.metricName ?? (test.metric ? 'metric' : 'mean relative error')) : undefined,
      options, ranks: comm().size, started: new Date().toISOString(), petscmlVersion: version,
    };
    this.emit(header);
    let lastMetric: number | null = null;
    const record = (s: TaoStatus): IterationRecord => {
      const c = this.tao.counts;
      let testMetric: number | null = null;
      if (test && s.iteration % every === 0) {
        testMetric = fn.evaluate!(this.fullParameters(), test.data, metric);
        lastMetric = testMetric;
      }
      const trainLoss = this.batchesPerEpoch === 1 ? s.f : s.iteration % this.batchesPerEpoch === 0 ? this.datasetLoss(this.fullParameters()) : null;
      const r: IterationRecord = {
        type: 'iteration', iteration: s.iteration, epoch: s.iteration / this.batchesPerEpoch, loss: s.f, trainLoss, gradNorm: s.gnorm,
        testMetric, counts: this.counts(c),
        oracleCalls: fn.counts ? fn.counts.oracleCalls - oracle0 : this.oracleFromCounts(c),
        trustRadius: s.trustRadius > 0 ? s.trustRadius : null,
        stepLength: s.stepLength !== undefined && this.tao.type !== 'ntr' ? s.stepLength : null,
        time: (performance.now() - t0) / 1000,
      };
      records.push(r);
      this.emit(r);
      return r;
    };
    this.tao.setMonitor((s) => {
      record(s);
    });
    if (this.forcing) {
      const forcing = this.forcing;
      const ksp = this.tao.ksp;
      this.tao.setUpdate(() => {
        if (ksp) ksp.setTolerances({ rtol: forcing.next(this.tao.status.gnorm) });
      });
    }
    let status: TaoResult;
    try {
      status = this.tao.solve();
    } finally {
      this.tao.setMonitor(null);
    }
    const time = (performance.now() - t0) / 1000;
    const x = this.fullParameters();
    fn.setParameters?.(x);
    const c = this.tao.counts;
    const oracleCalls = fn.counts ? fn.counts.oracleCalls - oracle0 : this.oracleFromCounts(c);
    // The loss of the whole training set: TAO's last f with full batches.
    const loss = this.batchesPerEpoch > 1 ? this.datasetLoss(x) : status.f;
    const finalMetric = test ? fn.evaluate!(x, test.data, metric) : null;
    if (test && records.length && records[records.length - 1].testMetric === null) lastMetric = finalMetric;
    const metrics = records.map((r) => r.testMetric).filter((m): m is number => m !== null);
    if (finalMetric !== null) metrics.push(finalMetric);
    const summary: SummaryRecord = {
      type: 'summary', iterations: status.iterations, epochs: status.iterations / this.batchesPerEpoch, loss,
      minLoss: Math.min(loss, ...records.map((r) => r.trainLoss ?? Infinity)), gradNorm: status.gnorm,
      testMetric: finalMetric ?? lastMetric, minTestMetric: metrics.length ? Math.min(...metrics) : null,
      oracleCalls, counts: this.counts(c), reason: status.reasonName, converged: status.converged, time,
    };
    this.emit(summary);
    for (const s of this.sinks) s.close?.();
    return { x, status, summary, header, records };
  }

  /** Frees the solver and removes the options it set (the command line's stay). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.attached?.destroy();
    this.x?.destroy();
    this.tao?.destroy();
    for (const k of this.inserted) this.options.delete(k);
  }
}

/** Creates a solver for `fn`; see {@link SolverOptions}. */
export function createSolver(fn: ObjectiveFunction, options: SolverOptions = {}): Solver {
  return new Solver(fn, options);
}
