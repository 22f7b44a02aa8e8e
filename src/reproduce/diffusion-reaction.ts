/**
 * The paper's third case (PETScML section 4.2.1; CASES.md section 4): an unstacked DeepONet (ReLU)
 * learns the source-to-solution operator u(x) -> s(x, t) of s_t = D s_xx + k s^2 + u(x), D = k =
 * 0.01, on DeepXDE's triplets [u at the m sensors, x, t] -> s(x, t). Loss and test metric are the
 * mean squared error (eq. 9). REF is Adam with a constant learning rate 1e-3 on the whole training
 * set ("used deterministically"), then the five second-order solvers from the same weights at REF's
 * oracle budget. Besides the usual figure, the paper's Figure 5: objective evaluations and Hessian
 * products of each second-order solver, epoch by epoch (breakdown.svg/png, data in breakdown.json).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend, meanSquaredError } from '../functions';
import { deeponet } from '../models';
import { diffusionReaction, type ArrayDataset } from '../problems';
import { loadArrays, type LoadedArray } from '../data';
import type { IterationRecord } from '../monitor';
import type { PresetName } from '../solvers';
import type { ReproduceCase, ReproduceOptions, CaseResult } from './cases';
import { caseFunctions, caseSetting, commonSetup, runComparison, type CaseRun } from './compare';

export interface DiffusionReactionSetting {
  /** Training functions u and output points P drawn for each. */
  train: number;
  points: number;
  /** Test functions and points per test function. */
  test: number;
  testPoints: number;
  /** Sensors m: also the solver's space grid. */
  sensors: number;
  /** Points of the grid the random field is drawn on before the spline to the sensors. */
  fieldPoints: number;
  /** Width and depth of both nets: branch [m, w x depth], trunk [2, w x depth]. */
  width: number;
  depth: number;
  /** REF's epochs: full-batch Adam steps. */
  refEpochs: number;
}

/**
 * paper: CASES.md 4.3's best estimate of the paper's configuration (100 training functions with
 * P = 1000 points, the last point of Lu et al.'s Figure 4b; unverified), tested on 100 functions
 * at 1000 points each, the released script's width 40 and depth 2 (the paper's are unknown) and
 * 10,000 REF epochs (unknown too). small: CASES.md 4.7's CPU variant, 100 x 100 rows for
 * training and test, 7,441 parameters; 1000 REF epochs keep the default run (REF and five
 * solvers at its budget) under 10 minutes on 2 cores (8 min 49 s measured; a full-batch Adam
 * step is ~75 ms here). tiny: seconds, for the test suite.
 */
export const DIFFUSION_REACTION_SETTINGS: Readonly<Record<'tiny' | 'small' | 'paper', Readonly<DiffusionReactionSetting>>> = {
  paper: { train: 100, points: 1000, test: 100, testPoints: 1000, sensors: 100, fieldPoints: 1000, width: 40, depth: 2, refEpochs: 10000 },
  small: { train: 100, points: 100, test: 100, testPoints: 100, sensors: 100, fieldPoints: 1000, width: 40, depth: 2, refEpochs: 1000 },
  tiny: { train: 4, points: 10, test: 3, testPoints: 10, sensors: 20, fieldPoints: 100, width: 8, depth: 2, refEpochs: 5 },
};

export const DIFFUSION_REACTION_SOLVERS: readonly PresetName[] = ['lbfgs', 'ls', 'ls-gn', 'tr', 'tr-gn'];

/** Objective evaluations and Hessian products of one solver in one epoch (Figure 5). */
export interface EpochBreakdown {
  epoch: number;
  /** f evaluations, alone or with the gradient. */
  objective: number;
  /** g evaluations, alone or with f. */
  gradient: number;
  hessianProducts: number;
}

export interface SolverBreakdown {
  name: string;
  label: string;
  epochs: EpochBreakdown[];
}

export async function reproduceDiffusionReaction(opts: ReproduceOptions): Promise<CaseResult & { setting: DiffusionReactionSetting; breakdown: SolverBreakdown[] }> {
  const where = 'petscml: reproduce diffusion-reaction';
  const { size, reference, solvers, setting } = caseSetting('diffusion-reaction', DIFFUSION_REACTION_SETTINGS, opts,
    { references: ['adam'], solvers: DIFFUSION_REACTION_SOLVERS, noSchedule: 'is constant' });
  const { backend, seed, say, progress, out, root, dataProgress } = commonSetup('diffusion-reaction', opts);

  await initBackend({ backend, quiet: true });
  const t0 = performance.now();
  const data = opts.data !== undefined ? await loadDeepXdeFile(opts.data) : (() => {
    const d = diffusionReaction({
      train: setting.train, points: setting.points, test: setting.test, testPoints: setting.testPoints,
      sensors: setting.sensors, gridPoints: setting.fieldPoints, seed, onProgress: dataProgress('diffusion-reaction solves'),
    });
    return { train: d.train, test: d.test, sensors: setting.sensors };
  })();
  const generated = ((performance.now() - t0) / 1000).toFixed(1);
  const model = deeponet({ sensors: data.sensors, width: setting.width, depth: setting.depth, activation: 'relu', seed });
  // Full batch for REF too: the paper ran Adam "deterministically".
  const { full } = await caseFunctions({ model, loss: 'mse', train: data.train, backend });
  const start = full.initialParameters();
  const trainRows = data.train.x.shape[0];
  const testRows = data.test.x.shape[0];
  const source = opts.data !== undefined
    ? `${trainRows} training / ${testRows} test rows read from ${opts.data} in`
    : `${setting.train} x ${setting.points} training / ${setting.test} x ${setting.testPoints} test rows (functions x points; D = k = 0.01), generated in`;
  say(`petscml reproduce diffusion-reaction (${size}): u(x) -> s(x, t), m = ${data.sensors} sensors, ${source} ${generated} s; ` +
    `DeepONet width ${setting.width}, depth ${setting.depth}, ReLU, ${full.size} parameters; backend ${full.backend.name}; output in ${out}`);
  try {
    const r = await runComparison({
      caseName: 'diffusion-reaction', title: `Diffusion-reaction, DeepONet (${size})`, out, full, refFn: full, start, solvers,
      reference: { preset: 'adam', label: 'REF (Adam)', epochs: setting.refEpochs, cfg: { tao_adam_lr: 1e-3, tao_adam_lr_schedule: 'constant' } },
      budget: opts.budget, warmupEpochs: opts.warmupEpochs,
      test: { data: data.test, metric: meanSquaredError, metricName: 'mean squared error' }, metricShort: 'test MSE',
      progress, say, plot: opts.plot ?? true,
      json: {
        size, setting, reference, seed, parameters: model.parameterCount, backend: full.backend.name,
        ...(opts.data !== undefined ? { data: { file: path.resolve(opts.data), trainRows, testRows, sensors: data.sensors } } : {}),
      },
    });
    const breakdown = r.runs.filter((x) => x.name !== 'ref' && x.name !== 'warmup').map(breakdownOf);
    for (const b of breakdown) {
      const sum = (k: 'objective' | 'hessianProducts') => b.epochs.reduce((s, e) => s + e[k], 0);
      const n = Math.max(1, b.epochs.length);
      say(`breakdown ${b.label}: ${b.epochs.length} epoch${b.epochs.length === 1 ? '' : 's'}, ${(sum('objective') / n).toFixed(1)} objective evaluations and ` +
        `${(sum('hessianProducts') / n).toFixed(1)} Hessian products per epoch`);
    }
    const files = [...r.files];
    if (root && breakdown.length > 0) {
      const json = path.join(out, 'breakdown.json');
      fs.writeFileSync(json, JSON.stringify({ case: 'diffusion-reaction', size, solvers: breakdown }, null, 2) + '\n');
      files.push(json);
      if (opts.plot ?? true) {
        const fig = await plotBreakdown(breakdown, path.join(out, 'breakdown'), `Diffusion-reaction, DeepONet (${size}): work per epoch`);
        files.push(...fig);
        say(`breakdown figure: ${fig.map((f) => path.relative(process.cwd(), f)).join(', ')}`);
      }
    }
    return { ...r, files, parameters: model.parameterCount, setting, breakdown };
  } finally {
    full.dispose();
    model.dispose();
  }
}

/**
 * Per-epoch differences of the cumulative counts; the start (iteration 0) is no epoch's work. A
 * record that repeats the previous one's iteration (the budget stopping a solver inside an
 * iteration) holds work of the next, unfinished epoch, and is counted there.
 */
export function breakdownOf(run: Pick<CaseRun, 'name' | 'label' | 'records'>): SolverBreakdown {
  const byEpoch = new Map<number, EpochBreakdown>();
  const recs: readonly IterationRecord[] = run.records;
  for (let i = 1; i < recs.length; i++) {
    const p = recs[i - 1], r = recs[i];
    const a = p.counts, b = r.counts;
    const epoch = r.iteration > p.iteration ? r.epoch : p.epoch + 1;
    const e = byEpoch.get(epoch) ?? { epoch, objective: 0, gradient: 0, hessianProducts: 0 };
    e.objective += b.objective + b.objectiveAndGradient - a.objective - a.objectiveAndGradient;
    e.gradient += b.gradient + b.objectiveAndGradient - a.gradient - a.objectiveAndGradient;
    e.hessianProducts += b.hessianProducts - a.hessianProducts;
    byEpoch.set(epoch, e);
  }
  return { name: run.name, label: run.label, epochs: [...byEpoch.values()] };
}

/**
 * The DeepXDE archive the authors' script can write (np.savez_compressed with X_train0: branch
 * inputs [N P, m], X_train1: trunk inputs [N P, 2], y_train [N P, 1], and the same for test),
 * joined into the rows [u at the sensors, x, t] the model takes. Every row of the file is used.
 */
async function loadDeepXdeFile(file: string): Promise<{ train: ArrayDataset; test: ArrayDataset; sensors: number }> {
  const where = `petscml: reproduce diffusion-reaction: --data ${file}`;
  const arrays = await loadArrays(file);
  const holds = Object.keys(arrays).join(', ') || 'nothing';
  const missingTrain = ['X_train0', 'X_train1', 'y_train'].filter((k) => !(k in arrays));
  if (missingTrain.length > 0) {
    throw new RangeError(`${where}: no ${missingTrain.join(', ')} in the file (it holds: ${holds}); ` +
      'expected DeepXDE\'s X_train0 [rows, m], X_train1 [rows, 2], y_train [rows, 1] and X_test0, X_test1, y_test');
  }
  const missingTest = ['X_test0', 'X_test1', 'y_test'].filter((k) => !(k in arrays));
  if (missingTest.length > 0) {
    // The authors' script comments out saving the test set; a run without one has no metric to compare.
    throw new RangeError(`${where}: no ${missingTest.join(', ')} in the file (it holds: ${holds}); ` +
      'the comparison needs a test set: save X_test0, X_test1, y_test in the same file');
  }
  const join = (b: LoadedArray, t: LoadedArray, y: LoadedArray, split: string, m?: number): ArrayDataset => {
    const names = `X_${split}0, X_${split}1, y_${split}`;
    if (b.shape.length !== 2 || t.shape.length !== 2 || t.shape[1] !== 2 || y.shape.length < 1 || y.shape.length > 2 || (y.shape.length === 2 && y.shape[1] !== 1)) {
      throw new RangeError(`${where}: ${names} must be [rows, m], [rows, 2], [rows, 1], got [${b.shape.join(', ')}], [${t.shape.join(', ')}], [${y.shape.join(', ')}]`);
    }
    const rows = b.shape[0];
    if (t.shape[0] !== rows || y.shape[0] !== rows) {
      throw new RangeError(`${where}: ${names} must have the same rows, got ${rows}, ${t.shape[0]} and ${y.shape[0]}`);
    }
    const sensors = b.shape[1];
    if (m !== undefined && sensors !== m) throw new RangeError(`${where}: X_test0 has ${sensors} sensors, X_train0 ${m}`);
    if (rows < 1 || sensors < 1) throw new RangeError(`${where}: ${names} are empty ([${b.shape.join(', ')}])`);
    const cols = sensors + 2;
    const x = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < sensors; j++) x[r * cols + j] = b.values[r * sensors + j];
      x[r * cols + sensors] = t.values[2 * r];
      x[r * cols + sensors + 1] = t.values[2 * r + 1];
    }
    return { x: { values: x, shape: [rows, cols] }, y: { values: Float32Array.from(y.values), shape: [rows, 1] } };
  };
  const train = join(arrays.X_train0, arrays.X_train1, arrays.y_train, 'train');
  const sensors = arrays.X_train0.shape[1];
  const test = join(arrays.X_test0, arrays.X_test1, arrays.y_test, 'test', sensors);
  return { train, test, sensors };
}

// Figure 5: plotRuns draws loss and metric curves only; this figure is its own Vega-Lite spec.

/**
 * One panel per solver, objective evaluations and Hessian products per epoch against the epoch.
 * Linear axes: the counts are small integers and zero is a value worth seeing; each panel keeps its
 * own epoch axis, since the solvers spend the same budget over very different numbers of epochs.
 */
export async function plotBreakdown(runs: readonly SolverBreakdown[], out: string, title: string): Promise<string[]> {
  const quantities = ['objective evaluations', 'Hessian products'];
  const values = runs.flatMap((r) => r.epochs.flatMap((e) => [
    { label: r.label, epoch: e.epoch, quantity: quantities[0], count: e.objective },
    { label: r.label, epoch: e.epoch, quantity: quantities[1], count: e.hessianProducts },
  ]));
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, fontSize: 15, anchor: 'middle' },
    background: 'white', padding: 12,
    data: { values },
    facet: { row: { field: 'label', type: 'nominal', sort: runs.map((r) => r.label), header: { title: null, labelAngle: 0, labelAlign: 'left', labelFontSize: 12 } } },
    spec: {
      width: 520, height: 110,
      mark: { type: 'line', point: { size: 18, filled: true }, strokeWidth: 1.4 },
      encoding: {
        x: { field: 'epoch', type: 'quantitative', axis: { title: 'epoch', format: 'd', tickMinStep: 1 } },
        y: { field: 'count', type: 'quantitative', axis: { title: 'per epoch', tickMinStep: 1 } },
        color: { field: 'quantity', type: 'nominal', scale: { domain: quantities, range: ['#4c78a8', '#e45756'] }, legend: { title: null, orient: 'top', labelLimit: 300 } },
      },
    },
    resolve: { scale: { x: 'independent', y: 'independent' } },
    config: { font: 'DejaVu Sans, Helvetica, Arial, sans-serif', view: { stroke: '#444' }, axis: { grid: true, gridColor: '#e6e6e6' } },
  };
  const { renderVegaLiteSvg, svgToPng } = await import('../plot');
  const svg = await renderVegaLiteSvg(spec);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(`${out}.svg`, svg);
  fs.writeFileSync(`${out}.png`, svgToPng(svg));
  return [`${out}.svg`, `${out}.png`];
}

export const DIFFUSION_REACTION_CASE: ReproduceCase = {
  name: 'diffusion-reaction',
  summary: 'DeepONet on nonlinear diffusion-reaction, u(x) -> s(x, t) (paper section 4.2.1)',
  help: `Generates the data (s_t = D s_xx + k s^2 + u(x), D = k = 0.01, zero initial and boundary
values; u a Gaussian random field, length scale 0.2, at m = 100 sensors; P points per u drawn from
the 100 x 100 solver grid, DeepXDE's triplets), trains REF (Adam, constant lr 1e-3, full batch)
and then L-BFGS, LS, LS-GN, TR and TR-GN from the same initial weights. Model: unstacked DeepONet,
ReLU (branch [m, w, w] with a linear last layer, trunk [2, w, w]). Loss and test metric: mean
squared error (eq. 9). Also draws the paper's Figure 5, objective evaluations and Hessian products
per epoch of each solver (breakdown.svg/png, data in breakdown.json).
  sizes   tiny: seconds (tests); small (default): 100 functions x P = 100 points for training
          and for test, width 40, depth 2 (7,441 parameters), REF 1000 epochs (9 minutes measured on
          2 cores); paper: 100 functions x P = 1000 for training and for test, width 40, depth 2,
          REF 10,000 epochs -- an estimate: the paper's numbers are stripped, and P = 1000 is
          CASES.md's best guess (a day or more on 2 cores)
  REF     adam: Adam, constant lr 1e-3, full batch (the paper's "deterministic" Adam)
  --data  a DeepXDE .npz (np.savez_compressed) with X_train0 [rows, m] (u at the sensors),
          X_train1 [rows, 2] (x, t), y_train [rows, 1], and X_test0, X_test1, y_test: every
          row is used; a file without the test arrays is refused`,
  references: ['adam'],
  solvers: DIFFUSION_REACTION_SOLVERS,
  stepSchedule: false,
  run: (o) => reproduceDiffusionReaction(o),
};
