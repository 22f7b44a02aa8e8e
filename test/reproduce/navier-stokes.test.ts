// `petscml reproduce navier-stokes` end to end at the tiny size: data, normalisers, FNO-3D, REF,
// second-order solvers at REF's oracle budget, logs, results; and the authors' file layout.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { reproduceNavierStokes, NAVIER_STOKES_SETTINGS } from '../../src/reproduce';
import { navierStokes2d } from '../../src/problems';
import { UnitGaussianNormalizer } from '../../src/data';
import { npyF8 as npy, writeMat73 } from '../support/array-files';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pml-repro-ns-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('reproduceNavierStokes (tiny)', () => {
  it('trains REF and the GN solvers from one start on normalised inputs, with the loss on decoded outputs', async () => {
    const out = path.join(dir, 'tiny');
    const lines: string[] = [];
    const r = await reproduceNavierStokes({ size: 'tiny', out, progress: false, plot: false, say: (s) => lines.push(s) });
    expect(r.runs.map((x) => x.name)).toEqual(['ref', 'lbfgs', 'ls-gn', 'tr-gn']);
    const st = NAVIER_STOKES_SETTINGS.tiny;
    expect(r.runs[0].summary.epochs).toBe(st.refEpochs);
    expect(r.runs[0].header.batchesPerEpoch).toBe(st.train / st.batchSize);
    // one start: the full-batch loss at iteration 0 is the same for every second-order run
    const l0 = r.runs[1].records[0].loss;
    for (const run of r.runs.slice(2)) expect(run.records[0].loss).toBe(l0);
    // the loss is eq. 6 on the decoded vorticity: predicting the training mean scores
    // sum ||y - mean||^2 / ||y||^2 / N (0.050 here), and an untrained FNO-3D, whose normalised
    // output is near 0, is just above that (0.051); without the decoder it would be near 1
    const data = navierStokes2d({ train: st.train, test: st.test, resolution: st.resolution, simulationResolution: st.simulationResolution, dt: st.dt, tIn: st.tIn, tOut: st.tOut, seed: 1234 });
    const yn = UnitGaussianNormalizer.fit(data.train.y);
    const cols = data.train.y.shape[1];
    let meanLoss = 0;
    for (let n = 0; n < st.train; n++) {
      let num = 0, den = 0;
      for (let j = 0; j < cols; j++) { const y = data.train.y.values[n * cols + j]; num += (y - yn.mean[j]) ** 2; den += y * y; }
      meanLoss += num / den / st.train;
    }
    expect(l0).toBeGreaterThan(0.8 * meanLoss);
    expect(l0).toBeLessThan(1.5 * meanLoss);
    expect(r.parameters).toBe(r.runs[0].header.parameters);
    const budget = Math.ceil(r.runs[0].summary.oracleCalls);
    for (const s of r.runs.slice(1)) {
      const recs = s.records;
      if (s.summary.reason === 'ORACLE_BUDGET') expect(recs[recs.length - 2].oracleCalls).toBeLessThan(budget);
      else expect(s.summary.oracleCalls).toBeLessThan(budget);
    }
    for (const f of ['ref.jsonl', 'lbfgs.jsonl', 'ls-gn.jsonl', 'tr-gn.jsonl', 'summary.md', 'results.json']) expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    expect(lines[0]).toMatch(/FNO-3D width 4, 2 modes/);
    expect(lines.join('\n')).toMatch(/headline/);
  }, 120_000);

  it('reads the authors\' u [samples, s, s, snapshots]: first rows train, last rows test, t <= T_in in, the next T out, strided', async () => {
    const st = NAVIER_STOKES_SETTINGS.tiny;
    const rows = 20, side = 16, steps = 8;
    const u = Float64Array.from({ length: rows * side * side * steps }, (_, k) => Math.sin(0.37 * k) + 0.5 * Math.cos(0.011 * k) + 2);
    const file = path.join(dir, 'ns.npz');
    fs.writeFileSync(file, zipSync({ 'u.npy': npy(u, [rows, side, side, steps]) }));
    const r = await reproduceNavierStokes({ size: 'tiny', out: path.join(dir, 'file'), solvers: ['tr-gn'], data: file, progress: false, plot: false, say: () => {} });
    expect(r.runs[0].header.samples).toBe(st.train);
    expect(r.runs[1].summary.iterations).toBeGreaterThan(0);
    // the authors' own format, MATLAB v7.3 (HDF5, reversed axes), read by rows: the same training
    const mat = await writeMat73(path.join(dir, 'ns_V1e-3_N20_T8.mat'), [{ name: 'u', shape: [rows, side, side, steps], rowMajor: u }]);
    const m = await reproduceNavierStokes({ size: 'tiny', out: path.join(dir, 'mat'), solvers: ['tr-gn'], data: mat, progress: false, plot: false, say: () => {} });
    expect(m.runs[0].records.map((x) => x.loss)).toEqual(r.runs[0].records.map((x) => x.loss));
    expect(m.runs[1].summary.testMetric).toBe(r.runs[1].summary.testMetric);
    const bad = path.join(dir, 'bad.npz');
    fs.writeFileSync(bad, zipSync({ 'u.npy': npy(u.slice(0, rows * side * side * 4), [rows, side, side, 4]) }));
    await expect(reproduceNavierStokes({ size: 'tiny', out: dir, data: bad, progress: false })).rejects.toThrow(/4 snapshots, fewer than 3 in \+ 3 out/);
    const odd = path.join(dir, 'odd.npz');
    fs.writeFileSync(odd, zipSync({ 'u.npy': npy(u.slice(0, rows * 12 * 12 * steps), [rows, 12, 12, steps]) }));
    await expect(reproduceNavierStokes({ size: 'tiny', out: dir, data: odd, progress: false })).rejects.toThrow(/a 12\^2 grid cannot be strided to 8\^2/);
    const noU = path.join(dir, 'nou.npz');
    fs.writeFileSync(noU, zipSync({ 'w.npy': npy(u, [rows, side, side, steps]) }));
    await expect(reproduceNavierStokes({ size: 'tiny', out: dir, data: noU, progress: false })).rejects.toThrow(/'u'/);
  }, 120_000);

  it('refuses bad options by name', async () => {
    await expect(reproduceNavierStokes({ size: 'huge' as never, out: dir })).rejects.toThrow(/size must be tiny, small or paper, got 'huge'/);
    await expect(reproduceNavierStokes({ out: dir, solvers: ['adam'] as never })).rejects.toThrow(/'adam' is not one of the second-order presets/);
    await expect(reproduceNavierStokes({ out: dir, reference: 'sgd' })).rejects.toThrow(/reference must be adamw or adam-l2, got 'sgd'/);
    await expect(reproduceNavierStokes({ size: 'tiny', out: dir, warmupEpochs: 3 })).rejects.toThrow(/warmupEpochs \(3\) must be fewer than REF's epochs \(3\)/);
  });
});
