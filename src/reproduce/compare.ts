/**
 * The comparison every case of the paper makes (PETScML section 4): REF, a first-order optimizer
 * with its authors' schedule, and the second-order solvers from the same initial weights, each
 * bounded by the oracle calls REF used, so that they are compared at equal cost as well as per
 * epoch. Optionally the paper's hybrid start: some epochs of REF, then the second-order solver,
 * counting the warm-up's calls against the same budget. Writes one JSON-lines log per run,
 * summary.md, results.json and the figure.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTfjsFunction, type BackendChoice, type BackendName, type TfjsFunction } from '../functions';
import { shardBatches, shardData } from '../data';
import type { ArrayDataset } from '../problems';
import type { CaseSize, ReproduceOptions } from './cases';
import { createSolver, PRESETS, type PresetName, type SolverOptions, type TestSet } from '../solvers';
import { JsonlLog, ProgressReporter, formatSummaryTable, type IterationRecord, type SummaryRecord, type HeaderRecord } from '../monitor';
import { comm } from '../petsc';

export interface CaseRun {
  name: string;
  label: string;
  header: HeaderRecord;
  records: IterationRecord[];
  summary: SummaryRecord;
  log: string;
  /** The smallest test metric among the records within `calls` oracle calls. */
  bestMetricWithin(calls: number): number | null;
}

export interface Headline {
  refMetric: number;
  refOracleCalls: number;
  /** TR-GN's best test metric at no more oracle calls than REF used, and the ratio to REF's. */
  trgnMetric: number | null;
  ratio: number | null;
  /** The paper's claim: ratio <= 1/10. */
  met: boolean | null;
}

/** REF: a first-order preset, its cfg (without prefix) and epochs. */
export interface ReferenceRun {
  preset: PresetName;
  label: string;
  epochs: number;
  cfg: NonNullable<SolverOptions['cfg']>;
}

/**
 * REF with a step schedule, as the FNO and GreenLearning scripts ran it: lr 1e-3 multiplied by
 * `rate` every `stepEpochs`, weight decay 1e-4; 'adamw' decouples the decay (the paper's optax
 * ADAMW), 'adam-l2' adds it to the gradient (PyTorch Adam's weight_decay, the original scripts').
 */
export function stepScheduleReference(variant: 'adamw' | 'adam-l2', epochs: number, stepEpochs: number, rate = 0.5): ReferenceRun {
  const type = variant === 'adamw' ? 'adamw' : 'adam';
  return {
    preset: type, label: variant === 'adamw' ? 'REF (AdamW)' : 'REF (Adam, coupled L2)', epochs,
    cfg: {
      [`tao_${type}_lr`]: 1e-3, [`tao_${type}_weight_decay`]: 1e-4, [`tao_${type}_lr_schedule`]: 'staircase',
      [`tao_${type}_lr_decay_rate`]: rate, [`tao_${type}_lr_decay_epochs`]: stepEpochs,
    },
  };
}

export interface ComparisonOptions {
  /** Case name in results.json ('burgers'). */
  caseName: string;
  /** Figure title. */
  title: string;
  out: string;
  /** The full-batch function every second-order run uses. */
  full: TfjsFunction;
  /** REF's function (mini-batches, or `full`). */
  refFn: TfjsFunction;
  start: Float64Array;
  reference: ReferenceRun;
  solvers: readonly PresetName[];
  /** Oracle calls of each second-order run, warm-up included (default: what REF used). */
  budget?: number;
  /** Epochs of REF before each second-order solver (the paper's hybrid start; default 0). */
  warmupEpochs?: number;
  test: TestSet;
  /** Short metric name for progress lines and the report ('test MRE'). */
  metricShort: string;
  progress: boolean;
  say: (line: string) => void;
  plot: boolean;
  /** Further fields of results.json. */
  json: Record<string, unknown>;
}

export interface ComparisonResult {
  runs: CaseRun[];
  headline: Headline;
  files: string[];
}

function bestWithin(records: readonly IterationRecord[], calls: number): number | null {
  let best: number | null = null;
  for (const r of records) {
    if (r.oracleCalls <= calls && r.testMetric !== null && (best === null || r.testMetric < best)) best = r.testMetric;
  }
  return best;
}

export function checkSecondOrder(where: string, solvers: readonly string[], known: readonly string[]): void {
  for (const s of solvers) {
    if (!(s in PRESETS) || PRESETS[s as PresetName].firstOrder) throw new RangeError(`petscml: ${where}: '${String(s)}' is not one of the second-order presets (${known.join(', ')})`);
  }
}

/**
 * A case's size, REF variant, solvers and setting from the common options, each refused by name:
 * refEpochs (and halvingEpochs, for a REF with a step schedule) override the size's; a REF without
 * one refuses halvingEpochs, saying how its learning rate moves (`noSchedule`).
 */
export function caseSetting<S extends { refEpochs: number; halvingEpochs?: number }>(
  caseName: string, settings: Readonly<Record<CaseSize, Readonly<S>>>, opts: ReproduceOptions,
  spec: { references: readonly string[]; solvers: readonly PresetName[]; knownSolvers?: readonly PresetName[]; noSchedule?: string },
): { size: CaseSize; reference: string; solvers: PresetName[]; setting: S } {
  const where = `petscml: reproduce ${caseName}`;
  const size = opts.size ?? 'small';
  if (!(size in settings)) throw new RangeError(`${where}: size must be tiny, small or paper, got '${String(size)}'`);
  const reference = opts.reference ?? spec.references[0];
  if (!spec.references.includes(reference)) throw new RangeError(`${where}: reference must be ${spec.references.join(' or ')}, got '${String(reference)}'`);
  if (spec.noSchedule !== undefined && opts.halvingEpochs !== undefined) {
    throw new RangeError(`${where}: halvingEpochs: REF's learning rate ${spec.noSchedule} (no step schedule), got ${opts.halvingEpochs}`);
  }
  const solvers = [...(opts.solvers ?? spec.solvers)];
  checkSecondOrder(`reproduce ${caseName}`, solvers, spec.knownSolvers ?? spec.solvers);
  const setting: S = {
    ...settings[size],
    ...(opts.refEpochs !== undefined ? { refEpochs: opts.refEpochs } : {}),
    ...(spec.noSchedule === undefined && opts.halvingEpochs !== undefined ? { halvingEpochs: opts.halvingEpochs } : {}),
  };
  for (const k of spec.noSchedule === undefined ? ['refEpochs', 'halvingEpochs'] as const : ['refEpochs'] as const) {
    const v = setting[k];
    if (!Number.isInteger(v) || (v as number) < 1) throw new RangeError(`${where}: ${k} must be a positive integer, got ${v}`);
  }
  checkWarmup(caseName, opts.warmupEpochs, setting.refEpochs);
  return { size, reference, solvers, setting };
}

/** The warm-up epochs, checked against REF's (whose oracle calls are the budget). */
export function checkWarmup(caseName: string, warmupEpochs: number | undefined, refEpochs: number): number {
  const warmup = warmupEpochs ?? 0;
  if (!(Number.isInteger(warmup) && warmup >= 0)) throw new RangeError(`petscml: reproduce ${caseName}: warmupEpochs must be an integer >= 0, got ${warmup}`);
  if (warmup >= refEpochs) {
    throw new RangeError(`petscml: reproduce ${caseName}: warmupEpochs (${warmup}) must be fewer than REF's epochs (${refEpochs}), whose calls are the budget`);
  }
  return warmup;
}

export async function runComparison(o: ComparisonOptions): Promise<ComparisonResult> {
  const root = comm().rank === 0;
  const out = path.resolve(o.out);
  const warmup = checkWarmup(o.caseName, o.warmupEpochs, o.reference.epochs);
  const runs: (CaseRun & { x: Float64Array })[] = [];
  const files: string[] = [];
  const runOne = (name: string, label: string, fn: TfjsFunction, solverOpts: SolverOptions): CaseRun & { x: Float64Array } => {
    const logPath = path.join(out, `${name}.jsonl`);
    let log: JsonlLog | undefined;
    const bar = o.progress ? new ProgressReporter({ label, metric: o.metricShort }) : undefined;
    const solver = createSolver(fn, {
      ...solverOpts, label, test: o.test,
      sinks: [
        { write: (r) => (log ??= JsonlLog.open(logPath, { enabled: root })).write(r), close: () => log?.close() },
        { write: (r) => { if (r.type === 'iteration') bar?.update(r); else if (r.type === 'summary') bar?.finish(r); } },
      ],
    });
    try {
      const r = solver.solve();
      files.push(logPath);
      return { name, label, header: r.header, records: r.records, summary: r.summary, log: logPath, x: r.x, bestMetricWithin: (c) => bestWithin(r.records, c) };
    } finally {
      solver.destroy();
    }
  };

  const refSolver = (epochs: number): SolverOptions => ({
    preset: o.reference.preset, prefix: 'ref_', epochs, params: o.start,
    cfg: { ...o.reference.cfg },
  });
  const ref = runOne('ref', o.reference.label, o.refFn, refSolver(o.reference.epochs));
  runs.push(ref);
  const budget = o.budget ?? Math.max(1, Math.ceil(ref.summary.oracleCalls));
  let from = o.start;
  let warmStart: SolverOptions['warmStart'];
  if (warmup > 0) {
    // REF's first epochs again (the same schedule and batches: the same iterates as REF's run).
    const w = runOne('warmup', `${o.reference.label}, ${warmup} epochs`, o.refFn, refSolver(warmup));
    runs.push(w);
    from = w.x;
    warmStart = { oracleCalls: w.summary.oracleCalls, epochs: warmup };
    if (w.summary.oracleCalls >= budget) {
      throw new RangeError(`petscml: reproduce ${o.caseName}: the warm-up used ${w.summary.oracleCalls.toFixed(1)} oracle calls, the whole budget of ${budget}`);
    }
  }
  for (const s of o.solvers) {
    const label = warmup > 0 ? `${PRESETS[s].label} (after ${warmup} REF epochs)` : PRESETS[s].label;
    // Epochs only as a backstop: the oracle budget ends these runs.
    runs.push(runOne(s, label, o.full, {
      preset: s, prefix: `${s.replace(/-/g, '')}_`, epochs: 100_000, budget: { oracleCalls: budget }, params: from,
      ...(warmStart ? { warmStart } : {}),
    }));
  }

  const refMetric = ref.summary.testMetric ?? NaN;
  const refCalls = ref.summary.oracleCalls;
  const trgn = runs.find((r) => r.name === 'tr-gn');
  const trgnMetric = trgn ? trgn.bestMetricWithin(refCalls) : null;
  const ratio = trgnMetric !== null ? trgnMetric / refMetric : null;
  const headline: Headline = { refMetric, refOracleCalls: refCalls, trgnMetric, ratio, met: ratio === null ? null : ratio <= 0.1 };

  const rows = runs.map((r) => ({ header: r.header, iterations: r.records, summary: r.summary }));
  o.say('\n' + formatSummaryTable(rows));
  const atEqual = runs.filter((r) => r.name !== 'ref' && r.name !== 'warmup').map((r) => `${r.label} ${fmt(r.bestMetricWithin(refCalls))}`).join(', ');
  o.say(`\nbest ${o.metricShort} within REF's ${fmtCalls(refCalls)} oracle calls: ${atEqual}`);
  if (trgn) {
    o.say(`headline (paper: TR-GN's test error at most 1/10 of REF's at no more oracle calls): REF ${fmt(refMetric)}, TR-GN ${fmt(trgnMetric)}, ` +
      `ratio ${ratio === null ? 'n/a' : ratio.toFixed(3)}: ${headline.met ? 'met' : 'not met'}`);
  }
  if (root) {
    fs.mkdirSync(out, { recursive: true });
    const md = path.join(out, 'summary.md');
    fs.writeFileSync(md, formatSummaryTable(rows, { format: 'markdown' }) + '\n');
    const json = path.join(out, 'results.json');
    fs.writeFileSync(json, JSON.stringify({
      case: o.caseName, ...o.json, warmupEpochs: warmup, budget,
      headline, runs: runs.map((r) => ({ name: r.name, label: r.label, summary: r.summary, bestMetricWithinRefCalls: r.bestMetricWithin(refCalls) })),
    }, null, 2) + '\n');
    files.push(md, json);
    if (o.plot) {
      const { plotRuns } = await import('../plot');
      // The warm-up repeats REF's first epochs: REF's curve already shows it.
      const shown = runs.filter((r) => r.name !== 'warmup');
      const fig = await plotRuns(shown.map((r) => r.log), { out: path.join(out, 'figure'), title: o.title });
      files.push(...fig.files);
      o.say(`figure: ${fig.files.map((f) => path.relative(process.cwd(), f)).join(', ')}`);
    }
  }
  return { runs: runs.map(({ x: _x, ...r }) => r), headline, files };
}

export function fmt(v: number | null): string {
  return v === null || !Number.isFinite(v) ? 'n/a' : v.toPrecision(3);
}

function fmtCalls(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** The options every case takes, checked once. */
export interface CommonCaseOptions {
  /** Output folder: one JSON-lines log per run, summary.md, results.json, figure.svg/png. */
  out: string;
  /** Oracle calls each second-order run may use, warm-up included (default: what REF used). */
  budget?: number;
  /** Epochs of REF before each second-order solver (the paper's hybrid start; default 0). */
  warmupEpochs?: number;
  /** Seed of the data and of the initial weights (default 1234). */
  seed?: number;
  backend?: BackendName;
  /**
   * 'float64': every run's model, loss, gradient and Hessian products in double on the
   * petscml-float64 backend (the data keep the generators' float32 values). Default float32.
   */
  precision?: 'float32' | 'float64';
  /** Draw the figure (default true). */
  plot?: boolean;
  /** Progress lines on stderr (default true). */
  progress?: boolean;
  /** Where the report lines go (default: stdout, rank 0). */
  say?: (line: string) => void;
}

export function commonSetup(caseName: string, opts: CommonCaseOptions) {
  const where = `petscml: reproduce ${caseName}`;
  if (opts === null || typeof opts !== 'object' || typeof opts.out !== 'string') throw new TypeError(`${where}: expected options with an output folder (out)`);
  if (opts.budget !== undefined && !(Number.isInteger(opts.budget) && opts.budget >= 1)) {
    throw new RangeError(`${where}: budget must be a positive integer number of oracle calls, got ${opts.budget}`);
  }
  if (opts.precision !== undefined && opts.precision !== 'float32' && opts.precision !== 'float64') {
    throw new RangeError(`${where}: precision must be 'float32' or 'float64', got ${JSON.stringify(opts.precision)}`);
  }
  if (opts.precision === 'float64' && opts.backend !== undefined && opts.backend !== 'petscml-float64') {
    throw new RangeError(`${where}: precision 'float64' runs on the petscml-float64 backend (tfjs has no float64), not on backend '${opts.backend}'`);
  }
  const root = comm().rank === 0;
  const progress = opts.progress ?? true;
  return {
    where, root, progress,
    /** The backend every function of the case uses (petscml-float64 for precision 'float64'). */
    backend: (opts.precision === 'float64' ? 'petscml-float64' : opts.backend) as BackendName | undefined,
    seed: opts.seed ?? 1234,
    say: opts.say ?? ((s: string) => { if (root) process.stdout.write(s + '\n'); }),
    out: path.resolve(opts.out),
    /** A progress callback for data generation: a line at every quarter. */
    dataProgress(what: string) {
      let shown = -1;
      return (done: number, total: number) => {
        const pct = Math.floor((100 * done) / total);
        if (progress && root && pct >= shown + 25) {
          shown = pct;
          process.stderr.write(`data: ${done}/${total} ${what}\n`);
        }
      };
    },
  };
}

/**
 * The full-batch function of the second-order runs and REF's mini-batched one. Under mpirun every
 * rank makes the same data and keeps its shard of every (global) batch, as petscml train does: a
 * full copy on each rank would count every sample once per rank.
 */
export async function caseFunctions(o: {
  model: Parameters<typeof createTfjsFunction>[0]['model'];
  loss: Parameters<typeof createTfjsFunction>[0]['loss'];
  train: ArrayDataset;
  batchSize?: number;
  backend?: BackendName;
}): Promise<{ full: TfjsFunction & { backend: BackendChoice }; batched: TfjsFunction & { backend: BackendChoice } }> {
  const parallel = comm().size > 1;
  const common = { model: o.model, loss: o.loss, backend: o.backend, quiet: true, dataParallel: parallel };
  const full = await createTfjsFunction({ ...common, data: parallel ? shardData(o.train) : o.train });
  if (o.batchSize === undefined || o.batchSize >= o.train.x.shape[0]) return { full, batched: full };
  try {
    const batched = await createTfjsFunction({
      ...common, ...(parallel ? { data: shardBatches(o.train, { batchSize: o.batchSize }) } : { data: o.train, batchSize: o.batchSize }),
    });
    return { full, batched };
  } catch (e) {
    full.dispose();
    throw e;
  }
}
