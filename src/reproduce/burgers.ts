/**
 * The paper's first case (PETScML section 4.1.1; CASES.md section 2): FNO-1D learns the map from
 * the initial condition u0 to u(., 1) of viscous Burgers, nu = 0.1. REF (a first-order optimizer over
 * mini-batches, as the authors ran it) and the paper's second-order solvers start from the same
 * weights; each second-order run is bounded by the oracle calls REF used, so the comparison is
 * at equal cost as well as per epoch. Loss: mean squared relative error (eq. 6); test metric:
 * mean relative error (eq. 7).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTfjsFunction, initBackend, type BackendName } from '../functions';
import { fno1d } from '../models';
import { burgers1d, type ArrayDataset } from '../problems';
import { loadArrays, shardBatches, shardData, toDataset } from '../data';
import { createSolver, PRESETS, type PresetName } from '../solvers';
import { JsonlLog, ProgressReporter, formatSummaryTable, type IterationRecord, type SummaryRecord, type HeaderRecord } from '../monitor';
import { comm } from '../petsc';

export type BurgersSize = 'tiny' | 'small' | 'paper';

/** One size of the case: data, model and REF's schedule. */
export interface BurgersSetting {
  resolution: number;
  simulationPoints: number;
  train: number;
  test: number;
  width: number;
  modes: number;
  /** REF's epochs and mini-batch size; its learning rate is halved every `halvingEpochs`. */
  refEpochs: number;
  batchSize: number;
  halvingEpochs: number;
}

/**
 * paper: the sizes the paper follows (Lu et al. 2022: s = 128 of 8192, 1000 / 200 samples; the
 * FNO of width 64, 16 modes; 500 epochs, batch 20, halved every 100). small: CASES.md 2.8's CPU
 * variant (minutes on 2 cores). tiny: seconds, for the test suite.
 */
export const BURGERS_SETTINGS: Readonly<Record<BurgersSize, Readonly<BurgersSetting>>> = {
  paper: { resolution: 128, simulationPoints: 1024, train: 1000, test: 200, width: 64, modes: 16, refEpochs: 500, batchSize: 20, halvingEpochs: 100 },
  small: { resolution: 64, simulationPoints: 1024, train: 200, test: 50, width: 32, modes: 16, refEpochs: 100, batchSize: 20, halvingEpochs: 20 },
  tiny: { resolution: 32, simulationPoints: 256, train: 20, test: 10, width: 6, modes: 4, refEpochs: 4, batchSize: 10, halvingEpochs: 2 },
};

/**
 * REF as the paper ran it (optax ADAMW: decoupled weight decay 1e-4, lr 1e-3 halved on a
 * staircase), or as the original FNO scripts did ('adam-l2': PyTorch Adam with coupled L2 decay
 * 1e-4, the same schedule).
 */
export type BurgersReference = 'adamw' | 'adam-l2';

export const BURGERS_SOLVERS = ['lbfgs', 'ls', 'ls-gn', 'tr', 'tr-gn'] as const;

export interface ReproduceBurgersOptions {
  size?: BurgersSize;
  /** Output folder: one JSON-lines log per run, summary.md, results.json, figure.svg/png. */
  out: string;
  /** Second-order presets to run after REF (default all five of the paper). */
  solvers?: readonly PresetName[];
  reference?: BurgersReference;
  /** Oracle calls each second-order run may use (default: what REF used). */
  budget?: number;
  /** REF's epochs (default: the size's). */
  refEpochs?: number;
  /** REF's learning rate is halved every this many epochs (default: the size's). */
  halvingEpochs?: number;
  /** Seed of the data and of the initial weights (default 1234). */
  seed?: number;
  /**
   * The authors' file instead of generated data: `burgers_data_R10.mat` (variables `a`, `u`, samples
   * by rows), or any .mat/.npz/HDF5 file with those names. As Lu et al. and the paper: the first
   * `train` rows train, the last `test` rows test, every (points / resolution)-th point.
   */
  data?: string;
  backend?: BackendName;
  plot?: boolean;
  /** Progress lines on stderr (default true). */
  progress?: boolean;
  /** Where the report lines go (default: stdout, rank 0). */
  say?: (line: string) => void;
}

export interface BurgersRun {
  name: string;
  label: string;
  header: HeaderRecord;
  records: IterationRecord[];
  summary: SummaryRecord;
  log: string;
  /** The smallest test metric among the records within `calls` oracle calls. */
  bestMetricWithin(calls: number): number | null;
}

export interface BurgersHeadline {
  refMetric: number;
  refOracleCalls: number;
  /** TR-GN's best test metric at no more oracle calls than REF used, and the ratio to REF's. */
  trgnMetric: number | null;
  ratio: number | null;
  /** The paper's claim at this size: ratio <= 1/10. */
  met: boolean | null;
}

export interface ReproduceBurgersResult {
  setting: BurgersSetting;
  runs: BurgersRun[];
  headline: BurgersHeadline;
  files: string[];
  parameters: number;
}

function bestWithin(records: readonly IterationRecord[], calls: number): number | null {
  let best: number | null = null;
  for (const r of records) {
    if (r.oracleCalls <= calls && r.testMetric !== null && (best === null || r.testMetric < best)) best = r.testMetric;
  }
  return best;
}

const REF_LABEL: Record<BurgersReference, string> = { adamw: 'REF (AdamW)', 'adam-l2': 'REF (Adam, coupled L2)' };

export async function reproduceBurgers(opts: ReproduceBurgersOptions): Promise<ReproduceBurgersResult> {
  const size = opts.size ?? 'small';
  if (!(size in BURGERS_SETTINGS)) throw new RangeError(`petscml: reproduce burgers: size must be tiny, small or paper, got '${String(size)}'`);
  const reference = opts.reference ?? 'adamw';
  if (reference !== 'adamw' && reference !== 'adam-l2') throw new RangeError(`petscml: reproduce burgers: reference must be adamw or adam-l2, got '${String(reference)}'`);
  const solvers = [...(opts.solvers ?? BURGERS_SOLVERS)];
  for (const s of solvers) {
    if (!(s in PRESETS) || PRESETS[s].firstOrder) throw new RangeError(`petscml: reproduce burgers: '${String(s)}' is not one of the second-order presets (${BURGERS_SOLVERS.join(', ')})`);
  }
  const setting: BurgersSetting = {
    ...BURGERS_SETTINGS[size],
    ...(opts.refEpochs !== undefined ? { refEpochs: opts.refEpochs } : {}),
    ...(opts.halvingEpochs !== undefined ? { halvingEpochs: opts.halvingEpochs } : {}),
  };
  for (const k of ['refEpochs', 'halvingEpochs'] as const) {
    if (!Number.isInteger(setting[k]) || setting[k] < 1) throw new RangeError(`petscml: reproduce burgers: ${k} must be a positive integer, got ${setting[k]}`);
  }
  if (opts.budget !== undefined && !(Number.isInteger(opts.budget) && opts.budget >= 1)) {
    throw new RangeError(`petscml: reproduce burgers: budget must be a positive integer number of oracle calls, got ${opts.budget}`);
  }
  const seed = opts.seed ?? 1234;
  const root = comm().rank === 0;
  const say = opts.say ?? ((s: string) => root && process.stdout.write(s + '\n'));
  const progress = opts.progress ?? true;
  const out = path.resolve(opts.out);

  await initBackend({ backend: opts.backend, quiet: true });
  const t0 = performance.now();
  let shown = -1;
  const data = opts.data !== undefined ? await loadBurgersFile(opts.data, setting) : burgers1d({
    train: setting.train, test: setting.test, resolution: setting.resolution, simulationPoints: setting.simulationPoints, seed,
    onProgress: (done, total) => {
      const pct = Math.floor((100 * done) / total);
      if (progress && root && pct >= shown + 25) {
        shown = pct;
        process.stderr.write(`data: ${done}/${total} Burgers solves\n`);
      }
    },
  });
  const model = fno1d({ resolution: setting.resolution, width: setting.width, modes: setting.modes, seed });
  // Under mpirun every rank makes the same data and keeps its shard of every (global) batch, as
  // petscml train does: a full copy on each rank would count every sample once per rank.
  const parallel = comm().size > 1;
  const full = await createTfjsFunction({
    model, loss: 'msre', backend: opts.backend, quiet: true, dataParallel: parallel, data: parallel ? shardData(data.train) : data.train,
  });
  const batched = await createTfjsFunction({
    model, loss: 'msre', backend: opts.backend, quiet: true, dataParallel: parallel,
    ...(parallel ? { data: shardBatches(data.train, { batchSize: setting.batchSize }) } : { data: data.train, batchSize: setting.batchSize }),
  });
  const start = full.initialParameters();
  const backendName = full.backend.name;
  const source = opts.data !== undefined ? `read from ${opts.data} in` : `nu = ${data.nu}, simulated on ${setting.simulationPoints} points, generated in`;
  say(`petscml reproduce burgers (${size}): u0 -> u(., 1), s = ${setting.resolution}, ` +
    `${setting.train} training / ${setting.test} test samples (${source} ${((performance.now() - t0) / 1000).toFixed(1)} s); ` +
    `FNO-1D width ${setting.width}, ${setting.modes} modes, ${full.size} parameters; backend ${full.backend.name}; output in ${path.relative(process.cwd(), out) || '.'}`);

  const test = { data: data.test, metricName: 'mean relative error' };
  const runs: BurgersRun[] = [];
  const files: string[] = [];
  const runOne = (name: string, label: string, fn: typeof full, solverOpts: Parameters<typeof createSolver>[1]): BurgersRun => {
    const logPath = path.join(out, `${name}.jsonl`);
    let log: JsonlLog | undefined;
    const bar = progress ? new ProgressReporter({ label, metric: 'test MRE' }) : undefined;
    const solver = createSolver(fn, {
      ...solverOpts, label, params: start, test,
      sinks: [
        { write: (r) => (log ??= JsonlLog.open(logPath, { enabled: root })).write(r), close: () => log?.close() },
        { write: (r) => { if (r.type === 'iteration') bar?.update(r); else if (r.type === 'summary') bar?.finish(r); } },
      ],
    });
    try {
      const r = solver.solve();
      files.push(logPath);
      return { name, label, header: r.header, records: r.records, summary: r.summary, log: logPath, bestMetricWithin: (c) => bestWithin(r.records, c) };
    } finally {
      solver.destroy();
    }
  };

  try {
    // REF: the paper's step schedule, once per epoch (CASES.md 2.6).
    const type = reference === 'adamw' ? 'adamw' : 'adam';
    const ref = runOne('ref', REF_LABEL[reference], batched, {
      preset: type, prefix: 'ref_', epochs: setting.refEpochs,
      cfg: {
        [`tao_${type}_lr`]: 1e-3, [`tao_${type}_weight_decay`]: 1e-4, [`tao_${type}_lr_schedule`]: 'staircase',
        [`tao_${type}_lr_decay_rate`]: 0.5, [`tao_${type}_lr_decay_epochs`]: setting.halvingEpochs,
      },
    });
    runs.push(ref);
    const budget = opts.budget ?? Math.max(1, Math.ceil(ref.summary.oracleCalls));
    for (const s of solvers) {
      // Epochs only as a backstop: the oracle budget ends these runs.
      runs.push(runOne(s, PRESETS[s].label, full, { preset: s, prefix: `${s.replace(/-/g, '')}_`, epochs: 100_000, budget: { oracleCalls: budget } }));
    }
  } finally {
    full.dispose();
    batched.dispose();
    model.dispose();
  }

  const ref = runs[0];
  const refMetric = ref.summary.testMetric ?? NaN;
  const refCalls = ref.summary.oracleCalls;
  const trgn = runs.find((r) => r.name === 'tr-gn');
  const trgnMetric = trgn ? trgn.bestMetricWithin(refCalls) : null;
  const ratio = trgnMetric !== null ? trgnMetric / refMetric : null;
  const headline: BurgersHeadline = { refMetric, refOracleCalls: refCalls, trgnMetric, ratio, met: ratio === null ? null : ratio <= 0.1 };

  const rows = runs.map((r) => ({ header: r.header, iterations: r.records, summary: r.summary }));
  say('\n' + formatSummaryTable(rows));
  const atEqual = runs.slice(1).map((r) => `${r.label} ${fmt(r.bestMetricWithin(refCalls))}`).join(', ');
  say(`\nbest test MRE within REF's ${fmtCalls(refCalls)} oracle calls: ${atEqual}`);
  if (trgn) {
    say(`headline (paper: TR-GN's test error at most 1/10 of REF's at no more oracle calls): REF ${fmt(refMetric)}, TR-GN ${fmt(trgnMetric)}, ` +
      `ratio ${ratio === null ? 'n/a' : ratio.toFixed(3)}: ${headline.met ? 'met' : 'not met'}`);
  }
  if (root) {
    fs.mkdirSync(out, { recursive: true });
    const md = path.join(out, 'summary.md');
    fs.writeFileSync(md, formatSummaryTable(rows, { format: 'markdown' }) + '\n');
    const json = path.join(out, 'results.json');
    fs.writeFileSync(json, JSON.stringify({
      case: 'burgers', size, setting, reference, seed, parameters: model.parameterCount, backend: backendName,
      headline, runs: runs.map((r) => ({ name: r.name, label: r.label, summary: r.summary, bestMetricWithinRefCalls: r.bestMetricWithin(refCalls) })),
    }, null, 2) + '\n');
    files.push(md, json);
    if (opts.plot ?? true) {
      const { plotRuns } = await import('../plot');
      const fig = await plotRuns(runs.map((r) => r.log), { out: path.join(out, 'figure'), title: `Burgers 1-D, FNO (${size})` });
      files.push(...fig.files);
      say(`figure: ${fig.files.map((f) => path.relative(process.cwd(), f)).join(', ')}`);
    }
  }
  return { setting, runs, headline, files, parameters: model.parameterCount };
}

async function loadBurgersFile(file: string, setting: BurgersSetting): Promise<{ train: ArrayDataset; test: ArrayDataset; nu: number | undefined }> {
  const { a, u } = await loadArrays(file, ['a', 'u']);
  const where = `petscml: reproduce burgers: ${file}`;
  if (a.shape.length !== 2 || u.shape.length !== 2 || a.shape[0] !== u.shape[0] || a.shape[1] !== u.shape[1]) {
    throw new RangeError(`${where}: 'a' and 'u' must be [samples, points] of one shape, got [${a.shape.join(', ')}] and [${u.shape.join(', ')}]`);
  }
  const [rows, points] = a.shape;
  if (points % setting.resolution !== 0) throw new RangeError(`${where}: ${points} points cannot be strided to the resolution ${setting.resolution}`);
  if (setting.train + setting.test > rows) throw new RangeError(`${where}: ${rows} samples, fewer than ${setting.train} training + ${setting.test} test`);
  const stride = points / setting.resolution;
  return {
    train: toDataset(a, u, { first: 0, last: setting.train, stride }),
    test: toDataset(a, u, { first: rows - setting.test, stride }),
    nu: undefined,
  };
}

function fmt(v: number | null): string {
  return v === null || !Number.isFinite(v) ? 'n/a' : v.toPrecision(3);
}

function fmtCalls(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
