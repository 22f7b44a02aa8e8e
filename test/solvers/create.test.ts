import * as tf from '@tensorflow/tfjs';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSolver, createTfjsFunction, darcy1d, initBackend, Options, PRESETS, solveDarcy1d, type RunRecord, type TfjsFunction } from '../../src';
import { JsonlLog, readLog } from '../../src/monitor';

const data = darcy1d({ train: 96, test: 32, points: 9, modes: 3, seed: 7 });
let full: TfjsFunction;
let x0: Float64Array;
let net: tf.Sequential;

function model() {
  return tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [9], units: 10, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }),
    tf.layers.dense({ units: 7, kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }),
  ] });
}

beforeAll(async () => {
  await initBackend({ quiet: true });
  net = model();
  full = await createTfjsFunction({ model: net, data: data.train, quiet: true });
  x0 = full.initialParameters();
});
afterAll(() => full.dispose());

const test = { data: { x: data.test.x, y: data.test.y } };

describe('darcy1d data', () => {
  it('solves -(a u\')\' = 1 exactly for constant a (u = s(1-s)/2, which the scheme reproduces)', () => {
    const u = solveDarcy1d(new Float64Array(11).fill(1));
    for (let i = 0; i < 9; i++) {
      const s = (i + 1) / 10;
      expect(u[i]).toBeCloseTo((s * (1 - s)) / 2, 14);
    }
  });
  it('is deterministic for a seed and differs between seeds', () => {
    const a = darcy1d({ train: 4, test: 1, seed: 3 }), b = darcy1d({ train: 4, test: 1, seed: 3 }), c = darcy1d({ train: 4, test: 1, seed: 4 });
    expect(Array.from(a.train.y.values)).toEqual(Array.from(b.train.y.values));
    expect(Array.from(a.train.y.values)).not.toEqual(Array.from(c.train.y.values));
  });
  it('refuses bad sizes', () => {
    expect(() => darcy1d({ points: 2 })).toThrow(/points must be at least 3/);
    expect(() => darcy1d({ train: 0 })).toThrow(/train must be a positive integer/);
  });
});

describe('createSolver presets', () => {
  for (const name of ['lbfgs', 'ls', 'ls-gn', 'tr', 'tr-gn'] as const) {
    it(`${name} reduces the loss and leaves the weights in the model`, () => {
      const records: RunRecord[] = [];
      const s = createSolver(full, { preset: name, prefix: `p${name.replace('-', '')}_`, params: x0, epochs: 15, test, monitor: (r) => records.push(r) });
      try {
        expect(s.tao.type).toBe(PRESETS[name].options.tao_type);
        const f0 = full.objective(x0);
        const r = s.solve();
        expect(r.summary.loss).toBeLessThan(f0 / 10);
        expect(r.summary.iterations).toBeGreaterThan(0);
        expect(r.summary.iterations).toBeLessThanOrEqual(15);
        // The model now holds the trained weights: its own prediction gives the summary's loss.
        const pred = net.predict(tf.tensor2d(data.train.x.values, data.train.x.shape)) as tf.Tensor;
        const mse = tf.losses.meanSquaredError(tf.tensor2d(data.train.y.values, data.train.y.shape), pred).dataSync()[0];
        expect(Math.abs(mse - r.summary.loss) / r.summary.loss).toBeLessThan(1e-5);
        expect(records[0].type).toBe('header');
        expect(records[records.length - 1].type).toBe('summary');
        const its = records.filter((x) => x.type === 'iteration');
        expect(its.length).toBeGreaterThan(1);
        if (PRESETS[name].hessian !== 'none') expect(r.summary.counts.hessianProducts).toBeGreaterThan(0);
        else expect(r.summary.counts.hessianProducts).toBe(0);
        if (name.startsWith('tr')) expect(its.every((i) => i.type === 'iteration' && i.trustRadius !== null && i.trustRadius <= 10)).toBe(true);
        expect(r.summary.testMetric).not.toBeNull();
        expect(r.summary.oracleCalls).toBeGreaterThan(0);
      } finally {
        s.destroy();
        full.setParameters(x0);
      }
    });
  }
});

describe('createSolver first-order presets', () => {
  for (const name of ['adam', 'adamw', 'sgd'] as const) {
    it(`${name} steps once per mini-batch and lowers the full-data loss`, async () => {
      const batched = await createTfjsFunction({ model: model(), data: data.train, batchSize: 32, quiet: true });
      const lr = name === 'sgd' ? 0.05 : 0.02;
      const s = createSolver(batched, { preset: name, prefix: `fo${name}_`, params: x0, epochs: 20, cfg: { [`tao_${name}_lr`]: lr } });
      try {
        const f0 = full.objective(x0);
        const r = s.solve();
        expect(s.batchesPerEpoch).toBe(3);
        expect(r.summary.iterations).toBe(60);
        expect(r.summary.epochs).toBe(20);
        expect(r.records.every((i) => i.stepLength === lr)).toBe(true); // constant schedule
        // the summary's loss is over the whole training set: the full-batch function agrees
        expect(full.objective(r.x)).toBeCloseTo(r.summary.loss, 5);
        expect(r.summary.loss).toBeLessThan(f0 / 3);
        expect(r.records[0].trainLoss).toBeCloseTo(f0, 5); // float32: three batch means vs one mean
        expect(r.records.filter((i) => i.trainLoss !== null).length).toBe(21);
        // reporting the training-set loss is not charged to the solver: 60 steps of f+g on 1/3 of the data
        expect(r.summary.oracleCalls).toBeCloseTo(((61 * 2) / 3), 6);
      } finally {
        s.destroy();
        batched.dispose();
      }
    });
  }
});

describe('createSolver configuration', () => {
  it('rejects an unknown cfg key and suggests close names', () => {
    expect(() => createSolver(full, { preset: 'tr-gn', params: x0, cfg: { tao_ntr_ksp_max_itt: 5 } }))
      .toThrow(/option 'tao_ntr_ksp_max_itt' is not used by this solver \(tao_type ntr\); did you mean tao_ntr_ksp_max_it/);
    expect(() => createSolver(full, { preset: 'lbfgs', params: x0, cfg: { tao_lmvm_mat_lmvm_hist_sise: 3 } }))
      .toThrow(/did you mean tao_lmvm_mat_lmvm_hist_size/);
  });
  it('rejects bad preset names, values, params and epochs', () => {
    expect(() => createSolver(full, { preset: 'tr_gn' as never, params: x0 })).toThrow(/unknown preset 'tr_gn'.*did you mean tr-gn/);
    expect(() => createSolver(full, { params: x0, cfg: { 'tao type': 'ntr' } })).toThrow(/is not a PETSc option name/);
    expect(() => createSolver(full, { params: x0, cfg: { tao_max_it: NaN } })).toThrow(/a string, a finite number or a boolean/);
    expect(() => createSolver(full, { params: [1, 2, 3] })).toThrow(/params has 3 values, the function has \d+ parameters/);
    expect(() => createSolver(full, { params: x0, epochs: 0 })).toThrow(/epochs/);
    expect(() => createSolver(full, { params: x0, prefix: 'bad prefix' })).toThrow(/prefix/);
  });
  it('a cfg value reaches PETSc and the command line (options database) overrides it', () => {
    const s1 = createSolver(full, { preset: 'tr-gn', prefix: 'cfgA_', params: x0, cfg: { tao_ntr_ksp_max_it: 7 } });
    expect(s1.tao.ksp!.tolerances.maxIts).toBe(7);
    s1.destroy();
    new Options('cfgB_').set('tao_ntr_ksp_max_it', 3); // as if given on the command line
    try {
      const s2 = createSolver(full, { preset: 'tr-gn', prefix: 'cfgB_', params: x0, cfg: { tao_ntr_ksp_max_it: 7 } });
      expect(s2.tao.ksp!.tolerances.maxIts).toBe(3);
      s2.destroy();
    } finally {
      new Options('cfgB_').delete('tao_ntr_ksp_max_it');
    }
  });
  it('prefixes isolate two solvers in one script, and no solver leaves its options in the database', () => {
    new Options('iso1_').set('tao_type', 'nls');
    try {
      const a = createSolver(full, { preset: 'tr-gn', prefix: 'iso1_', params: x0, cfg: { tao_nls_ksp_max_it: 4 } });
      const b = createSolver(full, { preset: 'tr-gn', prefix: 'iso2_', params: x0 });
      expect(a.tao.type).toBe('nls');
      expect(b.tao.type).toBe('ntr');
      expect(a.tao.ksp!.tolerances.maxIts).toBe(4);
      expect(b.tao.ksp!.tolerances.maxIts).toBe(100);
      // a solver's own options are in the database only while it reads them (configure, solve)
      expect(new Options('iso2_').get('tao_ntr_max_radius')).toBeUndefined();
      b.destroy();
      a.destroy();
      expect(new Options('iso2_').has('tao_ntr_max_radius')).toBe(false);
      expect(new Options('iso1_').has('tao_nls_ksp_max_it')).toBe(false);
      expect(new Options('iso1_').get('tao_type')).toBe('nls'); // the "command line" stays
    } finally {
      new Options('iso1_').delete('tao_type');
    }
  });
  it('refuses a second-order preset on a mini-batched function', async () => {
    const batched = await createTfjsFunction({ model: model(), data: data.train, batchSize: 32, quiet: true });
    try {
      expect(() => createSolver(batched, { preset: 'tr-gn' })).toThrow(/'ntr' needs the full data set.*3 mini-batches/);
    } finally {
      batched.dispose();
    }
  });
  it('LS presets set the CG tolerance from the Eisenstat-Walker forcing term each iteration', () => {
    const seen: number[] = [];
    const s = createSolver(full, { preset: 'ls-gn', prefix: 'ew_', params: x0, epochs: 6,
      monitor: (r) => { if (r.type === 'iteration' && r.iteration > 0) seen.push(s.tao.ksp!.tolerances.rtol); } });
    try {
      const r = s.solve();
      expect(seen.length).toBe(r.summary.iterations);
      expect(seen[0]).toBe(0.5); // eta0
      // choice 2: eta_k = 0.9 (|g_k| / |g_{k-1}|)^((1+sqrt 5)/2), safeguarded, at most 0.9
      expect(seen.every((e) => e > 0 && e <= 0.9)).toBe(true);
      expect(new Set(seen).size).toBeGreaterThan(1);
    } finally {
      s.destroy();
      full.setParameters(x0);
    }
  });
});

describe('createSolver oracle-call budget', () => {
  it.each(['tr-gn', 'lbfgs', 'tr'] as const)('%s stops at the first iteration that reaches the budget, with reason ORACLE_BUDGET', (preset) => {
    const records: RunRecord[] = [];
    const budget = 120;
    const s = createSolver(full, { preset, prefix: `bud${preset.replace('-', '')}_`, params: x0, epochs: 1000, budget: { oracleCalls: budget }, sharePrefix: true, monitor: (r) => records.push(r) });
    try {
      const r = s.solve();
      expect(r.summary.reason).toBe('ORACLE_BUDGET');
      expect(r.summary.converged).toBe(false);
      const it = r.records;
      expect(it[it.length - 1].oracleCalls).toBeGreaterThanOrEqual(budget);
      expect(it[it.length - 2].oracleCalls).toBeLessThan(budget);
      expect(r.summary.oracleCalls).toBe(it[it.length - 1].oracleCalls);
      expect(r.summary.iterations).toBe(it[it.length - 1].iteration);
      // the same solver without a budget goes on
      const free = createSolver(full, { preset, prefix: `bud${preset.replace('-', '')}_`, params: x0, epochs: r.summary.iterations + 3, sharePrefix: true });
      try {
        expect(free.solve().summary.iterations).toBe(r.summary.iterations + 3);
      } finally {
        free.destroy();
      }
    } finally {
      s.destroy();
    }
  });
  it('a first-order run stops on the budget too, and epochs end a run whose budget is not reached', () => {
    const mb = createSolver(full, { preset: 'adam', prefix: 'budadam_', params: x0, epochs: 500, budget: { oracleCalls: 41 } });
    try {
      const r = mb.solve();
      expect(r.summary.reason).toBe('ORACLE_BUDGET');
      expect(r.summary.oracleCalls).toBeGreaterThanOrEqual(41);
      expect(r.summary.oracleCalls).toBeLessThan(41 + 2 + 1);
    } finally {
      mb.destroy();
    }
    const ep = createSolver(full, { preset: 'lbfgs', prefix: 'budep_', params: x0, epochs: 3, budget: { oracleCalls: 1e6 } });
    try {
      const r = ep.solve();
      expect(r.summary.iterations).toBe(3);
      expect(r.summary.reason).not.toBe('ORACLE_BUDGET');
    } finally {
      ep.destroy();
    }
  });
  it('refuses a bad budget by name', () => {
    expect(() => createSolver(full, { budget: { oracleCalls: 0 } })).toThrow(/budget.oracleCalls must be an integer in \[1, /);
    expect(() => createSolver(full, { budget: { oracleCalls: 1.5 } })).toThrow(/budget.oracleCalls must be an integer/);
    expect(() => createSolver(full, { budget: { oracle: 10 } as never })).toThrow(/budget: unknown option 'oracle'/);
    expect(() => createSolver(full, { budget: 10 as never })).toThrow(/budget/);
  });
});

describe('createSolver warm start (hybrid runs)', () => {
  it('counts oracle calls and epochs on from the warm start, and the budget bounds the total', () => {
    const adam = createSolver(full, { preset: 'adam', prefix: 'warmadam_', params: x0, epochs: 5 });
    let warm: ReturnType<typeof adam.solve>;
    try {
      warm = adam.solve();
    } finally {
      adam.destroy();
    }
    const calls = warm.summary.oracleCalls;
    expect(calls).toBeGreaterThan(0);
    const budget = Math.ceil(calls) + 60;
    const cold = createSolver(full, { preset: 'tr-gn', prefix: 'warmtr_', params: warm.x, epochs: 1000, budget: { oracleCalls: budget - calls }, sharePrefix: true });
    const hot = createSolver(full, { preset: 'tr-gn', prefix: 'warmtr_', params: warm.x, epochs: 1000, budget: { oracleCalls: budget }, sharePrefix: true,
      warmStart: { oracleCalls: calls, epochs: warm.summary.epochs } });
    try {
      const a = cold.solve();
      const b = hot.solve();
      // the same iterations, shifted by the warm start's counts
      expect(b.records.map((r) => r.iteration)).toEqual(a.records.map((r) => r.iteration));
      b.records.forEach((r, i) => {
        expect(r.oracleCalls).toBeCloseTo(a.records[i].oracleCalls + calls, 9);
        expect(r.epoch).toBeCloseTo(a.records[i].epoch + 5, 9);
      });
      expect(b.summary.reason).toBe('ORACLE_BUDGET');
      expect(b.summary.oracleCalls).toBeGreaterThanOrEqual(budget);
      expect(b.summary.oracleCalls).toBeCloseTo(a.summary.oracleCalls + calls, 9);
      expect(b.summary.epochs).toBeCloseTo(a.summary.epochs + 5, 9);
      expect(b.header.warmStart).toEqual({ oracleCalls: calls, epochs: 5 });
      expect(b.summary.loss).toBe(a.summary.loss);
    } finally {
      cold.destroy();
      hot.destroy();
    }
  });
  it('refuses a bad warm start by name', () => {
    expect(() => createSolver(full, { warmStart: { oracleCalls: -1 } })).toThrow(/warmStart.oracleCalls must be a finite number >= 0, got -1/);
    expect(() => createSolver(full, { warmStart: { oracleCalls: 5, epochs: NaN } })).toThrow(/warmStart.epochs must be a finite number >= 0/);
    expect(() => createSolver(full, { warmStart: { calls: 5 } as never })).toThrow(/warmStart: unknown option 'calls'/);
    expect(() => createSolver(full, { warmStart: { oracleCalls: 50 }, budget: { oracleCalls: 40 } })).toThrow(/budget.oracleCalls \(40\) counts the warm start too/);
  });
});

describe('createSolver logs', () => {
  it('writes header, one record per iteration and a summary to a JSON-lines log', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pml-create-'));
    const file = path.join(dir, 'run.jsonl');
    const log = JsonlLog.open(file);
    const s = createSolver(full, { preset: 'tr-gn', prefix: 'log_', params: x0, epochs: 5, test, sinks: [log], label: 'mine' });
    try {
      const r = s.solve();
      const back = readLog(file);
      expect(back.header.solver).toBe('mine');
      expect(back.header.taoType).toBe('ntr');
      expect(back.header.options.tao_ntr_max_radius).toBe('10');
      expect(back.iterations.map((i) => i.iteration)).toEqual(r.records.map((i) => i.iteration));
      expect(back.iterations[back.iterations.length - 1].loss).toBe(r.records[r.records.length - 1].loss);
      expect(back.summary!.loss).toBe(r.summary.loss);
      expect(back.iterations[0].testMetric).not.toBeNull();
      // counts and oracle calls only grow
      for (let i = 1; i < back.iterations.length; i++) {
        expect(back.iterations[i].oracleCalls).toBeGreaterThanOrEqual(back.iterations[i - 1].oracleCalls);
        expect(back.iterations[i].counts.hessianProducts).toBeGreaterThanOrEqual(back.iterations[i - 1].counts.hessianProducts);
      }
    } finally {
      s.destroy();
      full.setParameters(x0);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
