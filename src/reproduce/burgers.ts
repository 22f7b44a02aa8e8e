/**
 * The paper's first case (PETScML section 4.1.1; CASES.md section 2): FNO-1D learns the map from
 * the initial condition u0 to u(., 1) of viscous Burgers, nu = 0.1. REF (a first-order optimizer over
 * mini-batches, as the authors ran it) and the paper's second-order solvers start from the same
 * weights; each second-order run is bounded by the oracle calls REF used, so the comparison is
 * at equal cost as well as per epoch. Loss: mean squared relative error (eq. 6); test metric:
 * mean relative error (eq. 7).
 */
import * as path from 'node:path';
import { initBackend } from '../functions';
import { fno1d } from '../models';
import { burgers1d, type ArrayDataset } from '../problems';
import { loadArrays, toDataset } from '../data';
import type { PresetName } from '../solvers';
import type { ReproduceCase } from './cases';
import { caseFunctions, caseSetting, commonSetup, runComparison, stepScheduleReference, type CaseRun, type CommonCaseOptions, type Headline } from './compare';

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

export interface ReproduceBurgersOptions extends CommonCaseOptions {
  size?: BurgersSize;
  /** Second-order presets to run after REF (default all five of the paper). */
  solvers?: readonly PresetName[];
  reference?: BurgersReference;
  /** REF's epochs (default: the size's). */
  refEpochs?: number;
  /** REF's learning rate is halved every this many epochs (default: the size's). */
  halvingEpochs?: number;
  /**
   * The authors' file instead of generated data: `burgers_data_R10.mat` (variables `a`, `u`, samples
   * by rows), or any .mat/.npz/HDF5 file with those names. As Lu et al. and the paper: the first
   * `train` rows train, the last `test` rows test, every (points / resolution)-th point.
   */
  data?: string;
}

/** One run of the comparison (REF or a second-order solver). */
export type BurgersRun = CaseRun;
export type BurgersHeadline = Headline;

export interface ReproduceBurgersResult {
  setting: BurgersSetting;
  runs: BurgersRun[];
  headline: BurgersHeadline;
  files: string[];
  parameters: number;
}


export async function reproduceBurgers(opts: ReproduceBurgersOptions): Promise<ReproduceBurgersResult> {
  const { size, reference: variant, solvers, setting } = caseSetting('burgers', BURGERS_SETTINGS, opts,
    { references: ['adamw', 'adam-l2'], solvers: BURGERS_SOLVERS });
  const reference = variant as BurgersReference;
  const { backend, seed, say, progress, out, dataProgress } = commonSetup('burgers', opts);

  await initBackend({ backend, quiet: true });
  const t0 = performance.now();
  const data = opts.data !== undefined ? await loadBurgersFile(opts.data, setting) : burgers1d({
    train: setting.train, test: setting.test, resolution: setting.resolution, simulationPoints: setting.simulationPoints, seed,
    onProgress: dataProgress('Burgers solves'),
  });
  const model = fno1d({ resolution: setting.resolution, width: setting.width, modes: setting.modes, seed });
  const { full, batched } = await caseFunctions({ model, loss: 'msre', train: data.train, batchSize: setting.batchSize, backend });
  const start = full.initialParameters();
  const backendName = full.backend.name;
  const source = opts.data !== undefined ? `read from ${opts.data} in` : `nu = ${data.nu}, simulated on ${setting.simulationPoints} points, generated in`;
  say(`petscml reproduce burgers (${size}): u0 -> u(., 1), s = ${setting.resolution}, ` +
    `${setting.train} training / ${setting.test} test samples (${source} ${((performance.now() - t0) / 1000).toFixed(1)} s); ` +
    `FNO-1D width ${setting.width}, ${setting.modes} modes, ${full.size} parameters; backend ${full.backend.name}; output in ${path.relative(process.cwd(), out) || '.'}`);

  try {
    const r = await runComparison({
      caseName: 'burgers', title: `Burgers 1-D, FNO (${size})`, out, full, refFn: batched, start, solvers,
      // REF: the paper's step schedule, once per epoch (CASES.md 2.6).
      reference: stepScheduleReference(reference, setting.refEpochs, setting.halvingEpochs),
      budget: opts.budget, warmupEpochs: opts.warmupEpochs,
      test: { data: data.test, metricName: 'mean relative error' }, metricShort: 'test MRE',
      progress, say, plot: opts.plot ?? true,
      json: { size, setting, reference, seed, parameters: model.parameterCount, backend: backendName },
    });
    return { setting, runs: r.runs, headline: r.headline, files: r.files, parameters: model.parameterCount };
  } finally {
    full.dispose();
    if (batched !== full) batched.dispose();
    model.dispose();
  }
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

export const BURGERS_CASE: ReproduceCase = {
  name: 'burgers',
  summary: 'FNO-1D on viscous Burgers, u0 -> u(., 1) (paper section 4.1.1)',
  help: `Generates the data (viscous Burgers, nu = 0.1, Gaussian random initial conditions,
pseudo-spectral ETDRK4), trains REF (first order, mini-batches of the paper's schedule) and then
L-BFGS, LS, LS-GN, TR and TR-GN from the same initial weights. Loss: mean squared relative error
(eq. 6); test metric: mean relative error (eq. 7).
  sizes   tiny: seconds (tests); small (default): s = 64, 200 / 50 samples, FNO width 32 / 16 modes,
          REF 100 epochs, lr halved every 20 (minutes on 2 cores); paper: s = 128, 1000 / 200
          samples, width 64 / 16 modes (549,569 parameters), REF 500 epochs, halved every 100
          (hours on 2 cores)
  REF     adamw (default: the paper's optax ADAMW, decoupled decay 1e-4) or adam-l2 (the original
          FNO scripts' Adam with coupled L2 decay 1e-4); lr 1e-3 halved on a staircase, batch 20
  --data  the authors' burgers_data_R10.mat (a, u; or a .npz / HDF5 file with those names): first
          rows train, last rows test, strided to the resolution`,
  references: ['adamw', 'adam-l2'],
  solvers: BURGERS_SOLVERS,
  stepSchedule: true,
  run: (o) => reproduceBurgers({ ...o, reference: o.reference as BurgersReference | undefined }),
};
