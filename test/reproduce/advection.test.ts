// `petscml reproduce advection-1` / `advection-2` end to end at the tiny size: closed-form data,
// the POD basis of the training outputs, POD-DeepONet, full-batch Adam with inverse-time decay,
// the second-order solvers at REF's oracle budget; the authors' train/test .npz pair; option errors.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCase, reproduceAdvection, ADVECTION_SETTINGS } from '../../src/reproduce';
import { advection } from '../../src/problems';
import { podBasis } from '../../src/models';
import { npyF8 as npy } from '../support/array-files';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pml-repro-adv-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));


/** The authors' archive: x, t (n x n) and u [N, n t, n x]. */
function authorsNpz(file: string, u: Float32Array, samples: number, n: number): void {
  const grid = Array.from({ length: n * n }, (_, q) => (q % n) / (n - 1));
  const times = Array.from({ length: n * n }, (_, q) => Math.floor(q / n) / (n - 1));
  fs.writeFileSync(file, zipSync({ 'x.npy': npy(grid, [n, n]), 't.npy': npy(times, [n, n]), 'u.npy': npy(u, [samples, n, n]) }));
}

describe('reproduceAdvection (tiny)', () => {
  it('case I: POD of the training outputs, REF with inverse-time decay, the five solvers from one start within REF\'s calls', async () => {
    const out = path.join(dir, 'tiny1');
    const lines: string[] = [];
    const r = await reproduceAdvection(1, { size: 'tiny', out, progress: false, say: (s) => lines.push(s) });
    expect(r.runs.map((x) => x.name)).toEqual(['ref', 'lbfgs', 'ls', 'ls-gn', 'tr', 'tr-gn']);
    const st = ADVECTION_SETTINGS.tiny;
    const [ref, ...second] = r.runs;
    expect(ref.summary.epochs).toBe(st.refEpochs);
    expect(ref.header.batchesPerEpoch).toBe(1);
    expect(ref.header.metric).toBe('mean squared relative error');
    // DeepXDE's ("inverse time", 1, 1e-4): lr = 1e-3 / (1 + 1e-4 it), one step per epoch
    for (const rec of ref.records) if (rec.stepLength !== null) expect(rec.stepLength).toBeCloseTo(1e-3 / (1 + 1e-4 * rec.iteration), 12);
    // the basis is the training outputs' alone, 99.99% of their variance
    const data = advection({ case: 1, train: st.train, test: st.test, points: st.points, seed: 1234 });
    const basis = podBasis(data.train.y.values, st.train, st.points ** 2, { varianceExplained: 0.9999 });
    expect(r.modes).toBe(basis.p);
    // branch [10, 16, p]
    expect(r.parameters).toBe(10 * 16 + 16 + 17 * basis.p);
    const l0 = second[0].records[0].loss;
    for (const run of r.runs) expect(run.records[0].loss).toBe(l0);
    const budget = Math.ceil(ref.summary.oracleCalls);
    for (const s of second) {
      const recs = s.records;
      if (s.summary.reason === 'ORACLE_BUDGET') expect(recs[recs.length - 2].oracleCalls).toBeLessThan(budget);
      else expect(s.summary.oracleCalls).toBeLessThan(budget);
    }
    for (const f of ['ref.jsonl', 'lbfgs.jsonl', 'ls.jsonl', 'ls-gn.jsonl', 'tr.jsonl', 'tr-gn.jsonl', 'summary.md', 'results.json', 'figure.svg', 'figure.png']) {
      expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    }
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(results).toMatchObject({ case: 'advection-1', podModes: basis.p, initialCondition: 'square wave' });
    expect(lines[0]).toMatch(new RegExp(`p = ${basis.p} modes for 99.99% of the variance`));
    expect(lines.join('\n')).toMatch(/headline/);
  }, 60_000);

  it('case II: the square wave plus half ellipse, its own results', async () => {
    const out = path.join(dir, 'tiny2');
    const r = await reproduceAdvection(2, { size: 'tiny', out, solvers: ['tr-gn'], progress: false, plot: false, say: () => {} });
    expect(r.runs.map((x) => x.name)).toEqual(['ref', 'tr-gn']);
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(results).toMatchObject({ case: 'advection-2', initialCondition: 'square wave + half ellipse' });
    const c = await loadCase('advection-2');
    expect(c?.name).toBe('advection-2');
    expect(c?.stepSchedule).toBe(false);
    expect(c?.help).toMatch(/train_IC2\.npz/);
  }, 60_000);

  it('reads the authors\' train.npz and the test.npz beside it (--data): branch u[:, 0, :], targets u.reshape(N, nt nx)', async () => {
    const n = 10, rows = 25, st = ADVECTION_SETTINGS.tiny;
    // one stream: the first 20 of 25 training rows and the 10 test rows the tiny size generates
    const gen = advection({ case: 1, train: rows, test: rows, points: n, seed: 7 });
    const tiny = advection({ case: 1, train: st.train, test: st.test, points: n, seed: 7 });
    const sub = path.join(dir, 'authors');
    fs.mkdirSync(sub);
    const trainFile = path.join(sub, 'train.npz');
    authorsNpz(trainFile, gen.train.y.values, rows, n);
    authorsNpz(path.join(sub, 'test.npz'), tiny.test.y.values, st.test, n);
    const lines: string[] = [];
    const opts = { size: 'tiny', solvers: ['tr-gn'], seed: 7, progress: false, plot: false } as const;
    const r = await reproduceAdvection(1, { ...opts, out: path.join(dir, 'file'), data: trainFile, say: (s) => lines.push(s) });
    expect(r.runs[0].header.samples).toBe(st.train);
    expect(lines[0]).toMatch(/10 sensors, 100 output points/);
    expect(lines[0]).toMatch(/test\.npz/);
    // the same rows generated: the same basis, losses and test metrics, so the branch input is u[:, 0, :]
    // and the target u.reshape(N, 100)
    const g = await reproduceAdvection(1, { ...opts, out: path.join(dir, 'generated'), say: () => {} });
    expect(r.modes).toBe(g.modes);
    expect(r.runs[0].records.map((x) => [x.loss, x.testMetric])).toEqual(g.runs[0].records.map((x) => [x.loss, x.testMetric]));

    // case II's names: train_IC2.npz finds test_IC2.npz, not test.npz
    const ic2 = path.join(sub, 'train_IC2.npz');
    fs.copyFileSync(trainFile, ic2);
    await expect(reproduceAdvection(2, { size: 'tiny', out: dir, data: ic2, progress: false })).rejects.toThrow(
      /petscml: reproduce advection-2: --data .*train_IC2\.npz: no test file next to it \(looked for .*test_IC2\.npz\)/);
    const lone = path.join(dir, 'lone', 'data.npz');
    fs.mkdirSync(path.dirname(lone));
    fs.copyFileSync(trainFile, lone);
    await expect(reproduceAdvection(1, { size: 'tiny', out: dir, data: lone, progress: false })).rejects.toThrow(/no test file next to it \(looked for .*lone\/test\.npz\)/);
    const few = path.join(dir, 'few');
    fs.mkdirSync(few);
    authorsNpz(path.join(few, 'train.npz'), gen.train.y.values.subarray(0, 5 * n * n), 5, n);
    fs.copyFileSync(path.join(sub, 'test.npz'), path.join(few, 'test.npz'));
    await expect(reproduceAdvection(1, { size: 'tiny', out: dir, data: path.join(few, 'train.npz'), progress: false })).rejects.toThrow(/5 samples, fewer than the 20 training samples/);
    const flat = path.join(dir, 'flat');
    fs.mkdirSync(flat);
    fs.writeFileSync(path.join(flat, 'train.npz'), zipSync({ 'u.npy': npy(gen.train.y.values, [rows, n * n]) }));
    fs.copyFileSync(path.join(sub, 'test.npz'), path.join(flat, 'test.npz'));
    await expect(reproduceAdvection(1, { size: 'tiny', out: dir, data: path.join(flat, 'train.npz'), progress: false })).rejects.toThrow(/'u' must be \[samples, t, x\], got \[25, 100\]/);
  }, 60_000);

  it('refuses bad options by name', async () => {
    await expect(reproduceAdvection(1, { size: 'huge' as never, out: dir })).rejects.toThrow(/reproduce advection-1: size must be tiny, small or paper, got 'huge'/);
    await expect(reproduceAdvection(2, { out: dir, solvers: ['adam'] as never })).rejects.toThrow(/reproduce advection-2: '.*adam' is not one of the second-order presets/);
    await expect(reproduceAdvection(1, { out: dir, reference: 'adamw' })).rejects.toThrow(/reference must be adam, got 'adamw'/);
    await expect(reproduceAdvection(1, { out: dir, halvingEpochs: 3 })).rejects.toThrow(/halvingEpochs: REF's learning rate decays as 1e-3 \/ \(1 \+ 1e-4 it\) \(no step schedule\), got 3/);
    await expect(reproduceAdvection(1, { size: 'tiny', out: dir, refEpochs: 2.5 })).rejects.toThrow(/refEpochs must be a positive integer, got 2.5/);
    await expect(reproduceAdvection(1, { size: 'tiny', out: dir, warmupEpochs: 9 })).rejects.toThrow(/warmupEpochs \(9\) must be fewer than REF's epochs \(5\)/);
    await expect(reproduceAdvection(3 as never, { out: dir })).rejects.toThrow(/the case must be 1 or 2, got 3/);
  });
});
