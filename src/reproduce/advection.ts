/**
 * The paper's fourth case (PETScML section 4.2.2; CASES.md section 5): a POD-DeepONet learns
 * u0 -> u(x, t) of u_t + u_x = 0 on [0, 1] periodic, on the whole 40 x 40 space-time grid. Case I
 * (advection-1) starts from a square wave, case II (advection-2) from a square wave plus a half
 * ellipse (Lu et al. 2022's Advection II and III). The POD basis is computed once, in float64,
 * from the training outputs (99.99% of their variance, sklearn's PCA(0.9999)); the branch net
 * [40, width, p] weights its modes. Loss: mean squared error (eq. 9); test metric: mean squared
 * relative error (eq. 6). REF: Adam, lr 1e-3 / (1 + 1e-4 it) (DeepXDE's inverse-time decay), full
 * batch, then the five second-order solvers from the same weights at REF's oracle budget.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend, meanSquaredRelativeError } from '../functions';
import { podBasis, podDeeponet } from '../models';
import { advection, type ArrayDataset } from '../problems';
import { loadArrays } from '../data';
import type { PresetName } from '../solvers';
import type { ReproduceCase, ReproduceOptions, CaseResult } from './cases';
import { caseFunctions, caseSetting, commonSetup, runComparison } from './compare';

export interface AdvectionSetting {
  train: number;
  test: number;
  /** Grid points per axis of generated data: linspace(0, 1, points) in x and in t. */
  points: number;
  /** Hidden width of the branch [sensors, width, p]. */
  width: number;
  /** REF's epochs: full-batch Adam steps. */
  refEpochs: number;
}

/**
 * paper: the authors' files (1000 / 1000 samples, 40 x 40), width 512, 100,000 Adam steps (their
 * iterations). small: CASES.md 5.7's CPU variant, 200 / 200 samples on 40 x 40, width 512 as the
 * authors (p is data dependent: 38 for case I and 32 for case II from these 200 samples), 3000 REF
 * epochs (a full-batch step is ~35 ms here), so that REF and five solvers at its budget take 6-7
 * minutes on 2 cores (measured: 7 min 5 s for case I, 6 min 18 s for case II). tiny: seconds, for
 * the test suite (a 10 x 10 grid).
 */
export const ADVECTION_SETTINGS: Readonly<Record<'tiny' | 'small' | 'paper', Readonly<AdvectionSetting>>> = {
  paper: { train: 1000, test: 1000, points: 40, width: 512, refEpochs: 100_000 },
  small: { train: 200, test: 200, points: 40, width: 512, refEpochs: 3000 },
  tiny: { train: 20, test: 10, points: 10, width: 16, refEpochs: 5 },
};

export const ADVECTION_SOLVERS: readonly PresetName[] = ['lbfgs', 'ls', 'ls-gn', 'tr', 'tr-gn'];

const CASE_NAMES = { 1: 'advection-1', 2: 'advection-2' } as const;
/** The authors' file names (data/advection/main.py). */
const TEST_FILE = { 1: 'test.npz', 2: 'test_IC2.npz' } as const;

/**
 * Case I (kind 1, square wave) or case II (kind 2, square wave plus half ellipse).
 */
export async function reproduceAdvection(kind: 1 | 2, opts: ReproduceOptions): Promise<CaseResult & { setting: AdvectionSetting; modes: number }> {
  if (kind !== 1 && kind !== 2) throw new RangeError(`petscml: reproduce advection: the case must be 1 or 2, got ${String(kind)}`);
  const name = CASE_NAMES[kind];
  const where = `petscml: reproduce ${name}`;
  const { size, reference, solvers, setting } = caseSetting(name, ADVECTION_SETTINGS, opts,
    { references: ['adam'], solvers: ADVECTION_SOLVERS, noSchedule: 'decays as 1e-3 / (1 + 1e-4 it)' });
  const { backend, seed, say, progress, out } = commonSetup(name, opts);

  await initBackend({ backend, quiet: true });
  const t0 = performance.now();
  let testFile: string | undefined;
  let data: { train: ArrayDataset; test: ArrayDataset };
  if (opts.data !== undefined) {
    testFile = testFileFor(opts.data, kind, where);
    data = await loadAdvectionFiles(opts.data, testFile, setting, where);
  } else {
    data = advection({ case: kind, train: setting.train, test: setting.test, points: setting.points, seed });
  }
  const generated = ((performance.now() - t0) / 1000).toFixed(1);
  const sensors = data.train.x.shape[1];
  const outputs = data.train.y.shape[1];
  const t1 = performance.now();
  // Once, from the training outputs only: the test set must not shape the basis.
  const basis = podBasis(data.train.y.values, setting.train, outputs, { varianceExplained: 0.9999 });
  const podSeconds = ((performance.now() - t1) / 1000).toFixed(1);
  const model = podDeeponet({ sensors, basis, width: setting.width, seed });
  const { full } = await caseFunctions({ model, loss: 'mse', train: data.train, backend });
  const start = full.initialParameters();
  const source = opts.data !== undefined ? `read from ${opts.data} and ${testFile} in` : `generated in`;
  say(`petscml reproduce ${name} (${size}): u0 -> u(x, t), case ${kind === 1 ? 'I (square wave)' : 'II (square wave + half ellipse)'}, ` +
    `${sensors} sensors, ${outputs} output points, ${setting.train} training / ${setting.test} test samples (${source} ${generated} s); ` +
    `POD of the training outputs: p = ${basis.p} modes for 99.99% of the variance (${podSeconds} s); ` +
    `POD-DeepONet branch [${sensors}, ${setting.width}, ${basis.p}], ${full.size} parameters; backend ${full.backend.name}; output in ${out}`);
  try {
    const r = await runComparison({
      caseName: name, title: `Advection case ${kind === 1 ? 'I' : 'II'}, POD-DeepONet (${size})`, out, full, refFn: full, start, solvers,
      // Full batch, so the epoch is DeepXDE's iteration: lr0 / (1 + 1e-4 epoch / 1).
      reference: {
        preset: 'adam', label: 'REF (Adam)', epochs: setting.refEpochs,
        cfg: { tao_adam_lr: 1e-3, tao_adam_lr_schedule: 'inverse_time', tao_adam_lr_decay_rate: 1e-4, tao_adam_lr_decay_epochs: 1 },
      },
      budget: opts.budget, warmupEpochs: opts.warmupEpochs,
      test: { data: data.test, metric: meanSquaredRelativeError, metricName: 'mean squared relative error' }, metricShort: 'test MSRE',
      progress, say, plot: opts.plot ?? true,
      json: {
        size, setting, case: name, initialCondition: kind === 1 ? 'square wave' : 'square wave + half ellipse',
        reference, seed, parameters: model.parameterCount, podModes: basis.p, backend: full.backend.name,
        ...(opts.data !== undefined ? { data: { train: path.resolve(opts.data), test: testFile } } : {}),
      },
    });
    return { ...r, parameters: model.parameterCount, setting, modes: basis.p };
  } finally {
    full.dispose();
    model.dispose();
  }
}

/**
 * The authors keep train and test apart (train.npz / test.npz, train_IC2.npz / test_IC2.npz): the
 * test file is the training file's name with 'train' made 'test', else the case's own name, in the
 * same folder.
 */
function testFileFor(file: string, kind: 1 | 2, where: string): string {
  const dir = path.dirname(path.resolve(file));
  const base = path.basename(file);
  const candidates = [...new Set([
    ...(base.includes('train') ? [path.join(dir, base.replace(/train/g, 'test'))] : []),
    path.join(dir, TEST_FILE[kind]),
  ])].filter((c) => c !== path.resolve(file));
  const found = candidates.find((c) => fs.existsSync(c));
  if (found === undefined) {
    throw new RangeError(`${where}: --data ${file}: no test file next to it (looked for ${candidates.join(', ')}); ` +
      `the authors ship the test set as ${TEST_FILE[kind]} beside the training file`);
  }
  return found;
}

/** u [N, nt, nx] (axes sample, t, x) of each file: the branch reads u[:, 0, :], the target u.reshape(N, nt nx). */
async function loadAdvectionFiles(trainFile: string, testFile: string, setting: AdvectionSetting, where: string): Promise<{ train: ArrayDataset; test: ArrayDataset }> {
  const read = async (file: string, count: number, what: string, grid?: number[]): Promise<ArrayDataset> => {
    const { u } = await loadArrays(file, ['u']);
    if (u.shape.length !== 3) throw new RangeError(`${where}: ${file}: 'u' must be [samples, t, x], got [${u.shape.join(', ')}]`);
    const [rows, nt, nx] = u.shape;
    if (grid && (grid[0] !== nt || grid[1] !== nx)) {
      throw new RangeError(`${where}: ${file}: 'u' has a ${nt} x ${nx} grid, the training file ${grid[0]} x ${grid[1]}`);
    }
    if (count > rows) throw new RangeError(`${where}: ${file}: ${rows} samples, fewer than the ${count} ${what} samples of this size`);
    const points = nt * nx;
    const y = Float32Array.from(u.values.subarray(0, count * points));
    const x = new Float32Array(count * nx);
    for (let n = 0; n < count; n++) x.set(y.subarray(n * points, n * points + nx), n * nx);
    return { x: { values: x, shape: [count, nx] }, y: { values: y, shape: [count, points] } };
  };
  const train = await read(trainFile, setting.train, 'training');
  const test = await read(testFile, setting.test, 'test', [train.y.shape[1] / train.x.shape[1], train.x.shape[1]]);
  return { train, test };
}

function advectionCase(kind: 1 | 2): ReproduceCase {
  const ic = kind === 1 ? 'a square wave' : 'a square wave plus a half ellipse';
  return {
    name: CASE_NAMES[kind],
    summary: `POD-DeepONet on 1-D advection from ${ic}, u0 -> u(x, t) (paper section 4.2.2, case ${kind === 1 ? 'I' : 'II'})`,
    help: `Generates the data (u_t + u_x = 0 on [0, 1] periodic, exact translates of ${ic}
with the authors' random ranges, on the 40 x 40 (x, t) grid), computes the POD basis of the training
outputs once (99.99% of the variance), trains REF (Adam, lr 1e-3 / (1 + 1e-4 it), full batch) and
then L-BFGS, LS, LS-GN, TR and TR-GN from the same initial weights. Model: POD-DeepONet, branch
[40, 512, p] (ReLU, linear output) times the fixed basis, plus the training mean. Loss: mean
squared error (eq. 9); test metric: mean squared relative error (eq. 6).
  sizes   tiny: seconds (tests; a 10 x 10 grid, width 16); small (default): 200 / 200
          samples, width 512, REF 3000 epochs (6-7 minutes measured on 2 cores); paper: 1000 / 1000
          samples, width 512, REF 100,000 epochs, the authors' iterations (days on 2 cores)
  REF     adam: Adam, lr 1e-3 with DeepXDE's inverse-time decay 1e-3 / (1 + 1e-4 it), full batch
  --data  the authors' ${kind === 1 ? 'train.npz' : 'train_IC2.npz'} (u: [samples, 40 t, 40 x]; x and t are not
          read): the test set is read from the file of the same name with 'train' made 'test'
          (${TEST_FILE[kind]}) in the same folder; the first rows of each are used`,
    references: ['adam'],
    solvers: ADVECTION_SOLVERS,
    stepSchedule: false,
    run: (o) => reproduceAdvection(kind, o),
  };
}

export const ADVECTION_1_CASE: ReproduceCase = advectionCase(1);
export const ADVECTION_2_CASE: ReproduceCase = advectionCase(2);
