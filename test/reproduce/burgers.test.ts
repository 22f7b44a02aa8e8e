// `petscml reproduce burgers` end to end at the tiny size: data, FNO, REF, second-order solvers
// at REF's oracle budget, logs, table, results and figure.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, describe, expect, it } from 'vitest';
import { readLog } from '../../src/monitor';
import { reproduceBurgers } from '../../src/reproduce';
import { npyF8 as npy } from '../support/array-files';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pml-repro-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('reproduceBurgers (tiny)', () => {
  it('runs REF then the second-order solvers from the same weights, each within the oracle calls REF used', async () => {
    const out = path.join(dir, 'tiny');
    const lines: string[] = [];
    const r = await reproduceBurgers({ size: 'tiny', out, solvers: ['lbfgs', 'tr-gn'], progress: false, say: (s) => lines.push(s) });
    expect(r.runs.map((x) => x.name)).toEqual(['ref', 'lbfgs', 'tr-gn']);
    const [ref, lbfgs, trgn] = r.runs;
    expect(ref.summary.epochs).toBe(4);
    // one start: the full-batch loss at iteration 0 is the same for every run
    const l0 = lbfgs.records[0].loss;
    expect(trgn.records[0].loss).toBe(l0);
    expect(ref.records[0].trainLoss).toBeCloseTo(l0, 5);
    const budget = Math.ceil(ref.summary.oracleCalls);
    for (const s of [lbfgs, trgn]) {
      const recs = s.records;
      if (s.summary.reason === 'ORACLE_BUDGET') {
        expect(recs[recs.length - 1].oracleCalls).toBeGreaterThanOrEqual(budget);
        expect(recs[recs.length - 2].oracleCalls).toBeLessThan(budget);
      } else {
        expect(s.summary.oracleCalls).toBeLessThan(budget);
      }
    }
    // the headline is what the records say
    const within = trgn.records.filter((x) => x.oracleCalls <= ref.summary.oracleCalls && x.testMetric !== null).map((x) => x.testMetric!);
    expect(r.headline.trgnMetric).toBe(Math.min(...within));
    expect(r.headline.refMetric).toBe(ref.summary.testMetric);
    expect(r.headline.ratio).toBeCloseTo(r.headline.trgnMetric! / r.headline.refMetric, 12);
    for (const f of ['ref.jsonl', 'lbfgs.jsonl', 'tr-gn.jsonl', 'summary.md', 'results.json', 'figure.svg', 'figure.png']) {
      expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    }
    const log = readLog(path.join(out, 'tr-gn.jsonl'));
    expect(log.header.hessian).toBe('gauss-newton');
    expect(log.summary!.oracleCalls).toBe(trgn.summary.oracleCalls);
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(results.parameters).toBe(r.parameters);
    expect(results.runs).toHaveLength(3);
    expect(lines.join('\n')).toMatch(/headline \(paper: TR-GN's test error at most 1\/10 of REF's/);
  }, 120_000);

  it('trains on the authors\' variables a and u read from a file (--data), first rows train, last rows test, strided', async () => {
    // a .npz with a and u as [40 samples, 64 points], float64 C order; tiny strides 64 -> 32
    const rows = 40, points = 64;
    const a = Float64Array.from({ length: rows * points }, (_, k) => Math.sin(0.1 * k));
    const u = a.map((v) => 0.01 * v * v + 0.001);
    const file = path.join(dir, 'burgers.npz');
    fs.writeFileSync(file, zipSync({ 'a.npy': npy(a, [rows, points]), 'u.npy': npy(u, [rows, points]) }));
    const r = await reproduceBurgers({ size: 'tiny', out: path.join(dir, 'file'), solvers: ['tr-gn'], data: file, progress: false, plot: false, say: () => {} });
    expect(r.runs[0].header.samples).toBe(20);
    expect(r.runs[1].summary.iterations).toBeGreaterThan(0);
    const bad = path.join(dir, 'bad.npz');
    fs.writeFileSync(bad, zipSync({ 'a.npy': npy(a, [rows, points]) }));
    await expect(reproduceBurgers({ size: 'tiny', out: dir, data: bad, progress: false })).rejects.toThrow(/'u'/);
    const odd = path.join(dir, 'odd.npz');
    fs.writeFileSync(odd, zipSync({ 'a.npy': npy(a.slice(0, 40 * 60), [40, 60]), 'u.npy': npy(u.slice(0, 40 * 60), [40, 60]) }));
    await expect(reproduceBurgers({ size: 'tiny', out: dir, data: odd, progress: false })).rejects.toThrow(/60 points cannot be strided to the resolution 32/);
  }, 60_000);

  it('starts the second-order solvers after REF epochs (--warmup-epochs), their counts going on from the warm-up\'s', async () => {
    const out = path.join(dir, 'warm');
    const r = await reproduceBurgers({ size: 'tiny', out, solvers: ['tr-gn'], warmupEpochs: 2, progress: false, plot: false, say: () => {} });
    expect(r.runs.map((x) => x.name)).toEqual(['ref', 'warmup', 'tr-gn']);
    const [ref, warm, trgn] = r.runs;
    expect(warm.summary.epochs).toBe(2);
    // the warm-up repeats REF's first two epochs exactly
    const refAt2 = ref.records.filter((x) => x.epoch <= 2);
    expect(warm.records.map((x) => x.loss)).toEqual(refAt2.map((x) => x.loss));
    expect(trgn.label).toMatch(/TR-GN \(after 2 REF epochs\)/);
    expect(trgn.header.warmStart).toEqual({ oracleCalls: warm.summary.oracleCalls, epochs: 2 });
    expect(trgn.records[0].oracleCalls).toBeGreaterThan(warm.summary.oracleCalls);
    expect(trgn.records[0].epoch).toBe(2);
    // it starts where the warm-up ended, and the budget counts the warm-up's calls
    expect(trgn.records[0].loss).toBeCloseTo(warm.summary.loss, 5);
    const budget = Math.ceil(ref.summary.oracleCalls);
    const last = trgn.records[trgn.records.length - 1];
    if (trgn.summary.reason === 'ORACLE_BUDGET') expect(trgn.records[trgn.records.length - 2].oracleCalls).toBeLessThan(budget);
    else expect(last.oracleCalls).toBeLessThan(budget);
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    expect(results.warmupEpochs).toBe(2);
    await expect(reproduceBurgers({ size: 'tiny', out, warmupEpochs: 4, progress: false })).rejects.toThrow(/warmupEpochs \(4\) must be fewer than REF's epochs \(4\)/);
  }, 120_000);

  it('refuses bad options by name', async () => {
    await expect(reproduceBurgers({ size: 'huge' as never, out: dir })).rejects.toThrow(/size must be tiny, small or paper, got 'huge'/);
    await expect(reproduceBurgers({ out: dir, solvers: ['adam'] as never })).rejects.toThrow(/'adam' is not one of the second-order presets/);
    await expect(reproduceBurgers({ out: dir, budget: 0 })).rejects.toThrow(/budget must be a positive integer/);
  });
});

describe('petscml reproduce', () => {
  const cli = path.resolve(__dirname, '../../dist/cli/main.js');
  const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' }, timeout: 120_000 });
  it('answers bad arguments with one message and exit code 2', () => {
    const cases: [string[], RegExp][] = [
      [['reproduce'], /reproduce needs a case: burgers/],
      [['reproduce', 'darcy'], /unknown case 'darcy'/],
      [['reproduce', 'burgers', 'navier-stokes'], /reproduce takes one case, got 'burgers navier-stokes'/],
      [['reproduce', 'burgers', '--size', 'big'], /--size must be tiny, small or paper, got 'big'/],
      [['reproduce', 'burgers', '--solvers', 'tr,adam'], /unknown solver 'adam' in --solvers/],
      [['reproduce', 'burgers', '--reference', 'sgd'], /--reference for burgers must be adamw or adam-l2, got 'sgd'/],
    ];
    for (const [args, message] of cases) {
      const r = run(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    const h = run(['reproduce', '--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toMatch(/--size NAME/);
    expect(h.stdout).toMatch(/navier-stokes/);
    const hc = run(['reproduce', 'burgers', '--help']);
    expect(hc.status).toBe(0);
    expect(hc.stdout).toMatch(/References: adamw, adam-l2 \(default adamw\)/);
  });
  it('under mpirun -n 2 shards the data: REF\'s losses are those of one process (each sample counted once)', () => {
    // This worker initialized MPI itself (the tests above): its singleton's OMPI_/PMIX_ variables
    // would make the child mpirun join that job instead of starting one.
    const env: NodeJS.ProcessEnv = { CI: '1', OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
    for (const [k, v] of Object.entries(process.env)) if (!/^(OMPI_|PMIX_|OPAL_|ORTE_)/.test(k)) env[k] = v;
    const args = ['reproduce', 'burgers', '--size', 'tiny', '--solvers', 'tr-gn', '--no-plot', '--quiet'];
    const one = run([...args, '--out', path.join(dir, 'np1')]);
    const two = spawnSync('mpirun', ['-n', '2', process.execPath, cli, ...args, '--out', path.join(dir, 'np2')], { encoding: 'utf8', env, timeout: 120_000 });
    expect(one.status, one.stderr).toBe(0);
    expect(two.status, two.stderr).toBe(0);
    expect(two.stdout.match(/^solver\s+iters/gm)).toHaveLength(1); // rank 0 alone prints
    const a = readLog(path.join(dir, 'np1', 'ref.jsonl')), b = readLog(path.join(dir, 'np2', 'ref.jsonl'));
    expect(b.header.ranks).toBe(2);
    expect(Math.abs(b.summary!.loss - a.summary!.loss) / a.summary!.loss).toBeLessThan(1e-5);
    const t1 = readLog(path.join(dir, 'np1', 'tr-gn.jsonl')), t2 = readLog(path.join(dir, 'np2', 'tr-gn.jsonl'));
    expect(Math.abs(t2.iterations[0].loss - t1.iterations[0].loss) / t1.iterations[0].loss).toBeLessThan(1e-6);
  });

  it('runs the tiny size from the command line with the original scripts\' Adam as REF', () => {
    const out = path.join(dir, 'cli');
    const r = run(['reproduce', 'burgers', '--size', 'tiny', '--solvers', 'tr-gn', '--reference', 'adam-l2', '--no-plot', '--quiet', '--out', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^REF \(Adam, coupled L2\)\s+8\s+4\s/m);
    const ref = readLog(path.join(out, 'ref.jsonl'));
    expect(ref.header.taoType).toBe('adam');
    expect(ref.header.options.tao_adam_weight_decay).toBe('0.0001');
    expect(fs.existsSync(path.join(out, 'figure.png'))).toBe(false);
  });
});
