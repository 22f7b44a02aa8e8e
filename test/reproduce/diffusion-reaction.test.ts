// `petscml reproduce diffusion-reaction` end to end at the tiny size: data, DeepONet, full-batch
// REF, the five second-order solvers at REF's oracle budget, logs, results, both figures; the
// DeepXDE archive layout; option errors.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { breakdownOf, loadCase, reproduceDiffusionReaction, DIFFUSION_REACTION_SETTINGS } from '../../src/reproduce';
import type { IterationRecord } from '../../src/monitor';
import { npy as npyOf } from '../support/array-files';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pml-repro-dr-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A .npy in C order, float32 ('<f4', as DeepXDE's arrays) or float64. */
const npy = (values: ArrayLike<number>, shape: number[], descr: '<f4' | '<f8' = '<f4') => npyOf({ descr, shape, rowMajor: values });

const record = (iteration: number, epoch: number, c: Partial<IterationRecord['counts']>): IterationRecord => ({
  type: 'iteration', iteration, epoch, loss: 1, gradNorm: 1, testMetric: null, oracleCalls: 0, trustRadius: null, stepLength: null, time: 0,
  counts: { objective: 0, gradient: 0, objectiveAndGradient: 0, hessian: 0, hessianProducts: 0, kspIterations: 0, ...c },
});

describe('reproduceDiffusionReaction (tiny)', () => {
  it('trains full-batch Adam and the five solvers from one start within REF\'s calls, with the MSE metric and the Figure 5 breakdown', async () => {
    const out = path.join(dir, 'tiny');
    const lines: string[] = [];
    const r = await reproduceDiffusionReaction({ size: 'tiny', out, progress: false, say: (s) => lines.push(s) });
    expect(r.runs.map((x) => x.name)).toEqual(['ref', 'lbfgs', 'ls', 'ls-gn', 'tr', 'tr-gn']);
    const st = DIFFUSION_REACTION_SETTINGS.tiny;
    const [ref, ...second] = r.runs;
    expect(ref.summary.epochs).toBe(st.refEpochs);
    expect(ref.header.batchesPerEpoch).toBe(1);
    expect(ref.header.samples).toBe(st.train * st.points);
    expect(ref.header.taoType).toBe('adam');
    expect(ref.header.metric).toBe('mean squared error');
    // constant learning rate
    for (const rec of ref.records) if (rec.stepLength !== null) expect(rec.stepLength).toBeCloseTo(1e-3, 12);
    // one start: the same full-batch loss at iteration 0 for every run, REF's included (full batch too)
    const l0 = second[0].records[0].loss;
    for (const run of r.runs) expect(run.records[0].loss).toBe(l0);
    const budget = Math.ceil(ref.summary.oracleCalls);
    for (const s of second) {
      const recs = s.records;
      if (s.summary.reason === 'ORACLE_BUDGET') expect(recs[recs.length - 2].oracleCalls).toBeLessThan(budget);
      else expect(s.summary.oracleCalls).toBeLessThan(budget);
    }
    // the breakdown's epochs add up to each run's counts after its start
    expect(r.breakdown.map((b) => b.name)).toEqual(['lbfgs', 'ls', 'ls-gn', 'tr', 'tr-gn']);
    second.forEach((s, i) => {
      const c0 = s.records[0].counts, c = s.records[s.records.length - 1].counts;
      const sum = (k: 'objective' | 'hessianProducts') => r.breakdown[i].epochs.reduce((a, e) => a + e[k], 0);
      expect(sum('objective')).toBe(c.objective + c.objectiveAndGradient - c0.objective - c0.objectiveAndGradient);
      expect(sum('hessianProducts')).toBe(c.hessianProducts - c0.hessianProducts);
    });
    expect(r.breakdown[0].epochs.every((e) => e.hessianProducts === 0)).toBe(true);
    for (const f of ['ref.jsonl', 'lbfgs.jsonl', 'ls.jsonl', 'ls-gn.jsonl', 'tr.jsonl', 'tr-gn.jsonl', 'summary.md', 'results.json', 'figure.svg', 'figure.png',
      'breakdown.svg', 'breakdown.png', 'breakdown.json']) {
      expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    }
    expect(fs.readFileSync(path.join(out, 'breakdown.svg'), 'utf8')).toMatch(/Hessian products/);
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(results.case).toBe('diffusion-reaction');
    expect(results.parameters).toBe(r.parameters);
    expect(r.parameters).toBe(ref.header.parameters);
    expect(lines[0]).toMatch(/DeepONet width 8, depth 2, ReLU/);
    expect(lines.join('\n')).toMatch(/headline/);
    expect(lines.join('\n')).toMatch(/breakdown TR-GN: \d+ epochs?, /);
  }, 60_000);

  it('counts a budget stop inside an iteration as work of the next epoch', () => {
    const b = breakdownOf({ name: 'tr-gn', label: 'TR-GN', records: [
      record(0, 0, { objectiveAndGradient: 1 }),
      record(1, 1, { objective: 1, objectiveAndGradient: 1, hessianProducts: 4 }),
      record(2, 2, { objective: 2, objectiveAndGradient: 2, hessianProducts: 7 }),
      record(2, 2, { objective: 4, objectiveAndGradient: 2, hessianProducts: 9 }),
    ] });
    expect(b.epochs).toEqual([
      { epoch: 1, objective: 1, gradient: 0, hessianProducts: 4 },
      { epoch: 2, objective: 2, gradient: 1, hessianProducts: 3 },
      { epoch: 3, objective: 2, gradient: 0, hessianProducts: 2 },
    ]);
  });

  it('reads DeepXDE\'s X_train0 / X_train1 / y_train and the test triplets (--data), every row, branch and trunk joined', async () => {
    const m = 6, train = 30, test = 12;
    const branch = (rows: number) => Float64Array.from({ length: rows * m }, (_, k) => Math.sin(0.3 * k));
    const trunk = (rows: number) => Float64Array.from({ length: rows * 2 }, (_, k) => (k % 7) / 7);
    const target = (rows: number) => Float64Array.from({ length: rows }, (_, k) => 0.1 * Math.cos(k));
    const arrays = {
      'X_train0.npy': npy(branch(train), [train, m]), 'X_train1.npy': npy(trunk(train), [train, 2]), 'y_train.npy': npy(target(train), [train, 1]),
      'X_test0.npy': npy(branch(test), [test, m]), 'X_test1.npy': npy(trunk(test), [test, 2]), 'y_test.npy': npy(target(test), [test, 1], '<f8'),
    };
    const file = path.join(dir, 'train.npz');
    fs.writeFileSync(file, zipSync(arrays));
    const lines: string[] = [];
    const r = await reproduceDiffusionReaction({ size: 'tiny', out: path.join(dir, 'file'), solvers: ['tr-gn'], data: file, progress: false, plot: false, say: (s) => lines.push(s) });
    expect(r.runs[0].header.samples).toBe(train);
    // DeepONet on m = 6 sensors, width 8, depth 2: branch 6*8+8 + 8*8+8, trunk 2*8+8 + 8*8+8, b0
    expect(r.parameters).toBe(56 + 72 + 24 + 72 + 1);
    expect(r.runs[1].summary.iterations).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/m = 6 sensors, 30 training \/ 12 test rows read from/);

    const { 'X_test0.npy': _a, 'X_test1.npy': _b, 'y_test.npy': _c, ...trainOnly } = arrays;
    const noTest = path.join(dir, 'notest.npz');
    fs.writeFileSync(noTest, zipSync(trainOnly));
    await expect(reproduceDiffusionReaction({ size: 'tiny', out: dir, data: noTest, progress: false })).rejects.toThrow(
      /reproduce diffusion-reaction: --data .*notest\.npz: no X_test0, X_test1, y_test in the file \(it holds: X_train0, X_train1, y_train\)/);
    const { 'y_train.npy': _d, ...noY } = arrays;
    const noYFile = path.join(dir, 'noy.npz');
    fs.writeFileSync(noYFile, zipSync(noY));
    await expect(reproduceDiffusionReaction({ size: 'tiny', out: dir, data: noYFile, progress: false })).rejects.toThrow(/no y_train in the file/);
    const odd = path.join(dir, 'odd.npz');
    fs.writeFileSync(odd, zipSync({ ...arrays, 'X_test0.npy': npy(branch(test).slice(0, test * 4), [test, 4]) }));
    await expect(reproduceDiffusionReaction({ size: 'tiny', out: dir, data: odd, progress: false })).rejects.toThrow(/X_test0 has 4 sensors, X_train0 6/);
    const rows = path.join(dir, 'rows.npz');
    fs.writeFileSync(rows, zipSync({ ...arrays, 'y_train.npy': npy(target(train - 1), [train - 1, 1]) }));
    await expect(reproduceDiffusionReaction({ size: 'tiny', out: dir, data: rows, progress: false })).rejects.toThrow(/must have the same rows, got 30, 30 and 29/);
  }, 60_000);

  it('refuses bad options by name, and registers the case', async () => {
    const p = /petscml: reproduce diffusion-reaction: /;
    await expect(reproduceDiffusionReaction({ size: 'huge' as never, out: dir })).rejects.toThrow(/size must be tiny, small or paper, got 'huge'/);
    await expect(reproduceDiffusionReaction({ out: dir, solvers: ['adam'] as never })).rejects.toThrow(/'adam' is not one of the second-order presets/);
    await expect(reproduceDiffusionReaction({ out: dir, reference: 'adamw' })).rejects.toThrow(/reference must be adam, got 'adamw'/);
    await expect(reproduceDiffusionReaction({ out: dir, halvingEpochs: 10 })).rejects.toThrow(/halvingEpochs: REF's learning rate is constant \(no step schedule\), got 10/);
    await expect(reproduceDiffusionReaction({ out: dir, refEpochs: 0 })).rejects.toThrow(p);
    await expect(reproduceDiffusionReaction({ size: 'tiny', out: dir, warmupEpochs: 5 })).rejects.toThrow(/warmupEpochs \(5\) must be fewer than REF's epochs \(5\)/);
    await expect(reproduceDiffusionReaction({ size: 'tiny', out: dir, budget: 1.5 })).rejects.toThrow(/budget must be a positive integer/);
    const c = await loadCase('diffusion-reaction');
    expect(c?.references).toEqual(['adam']);
    expect(c?.stepSchedule).toBe(false);
    expect(c?.help).toMatch(/estimate/);
  });
});
