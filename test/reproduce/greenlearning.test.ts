// `petscml reproduce greenlearning` end to end at the tiny size: Poisson data, the normalisers,
// GreenLearning with the loss on decoded outputs, REF's staircase, the second-order solvers at
// REF's oracle budget; the authors' train.mat / test.mat pair (29 x 29 and 421 x 421); option errors.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCase, reproduceGreenLearning, GREENLEARNING_SETTINGS } from '../../src/reproduce';
import { poisson2d } from '../../src/problems';
import { greenLearning } from '../../src/models';
import { UnitGaussianNormalizer } from '../../src/data';
import { writeMat5 } from '../support/array-files';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pml-repro-gl-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The authors' train.mat / test.mat: MAT v5 doubles [N, s, s] per variable. */
function writeMat(file: string, vars: Record<string, ArrayLike<number>>, n: number, s: number): void {
  writeMat5(file, Object.entries(vars).map(([name, v]) => ({ name, shape: [n, s, s], rowMajor: Float64Array.from(v) })), false);
}

/** Embeds [N, a, a] values on the vertex grid of [N, b, b] (every (b-1)/(a-1)-th point), noise elsewhere. */
function embed(values: ArrayLike<number>, n: number, a: number, b: number): Float64Array {
  const stride = (b - 1) / (a - 1);
  const out = Float64Array.from({ length: n * b * b }, (_, k) => Math.sin(1.7 * k) * 1e3);
  for (let k = 0; k < n; k++) for (let i = 0; i < a; i++) for (let j = 0; j < a; j++) out[(k * b + i * stride) * b + j * stride] = values[(k * a + i) * a + j];
  return out;
}

describe('reproduceGreenLearning (tiny)', () => {
  it('trains REF and the five solvers from one start within REF\'s calls, the loss eq. 6 on the decoded u', async () => {
    const out = path.join(dir, 'tiny');
    const lines: string[] = [];
    const r = await reproduceGreenLearning({ size: 'tiny', out, progress: false, say: (s) => lines.push(s) });
    expect(r.runs.map((x) => x.name)).toEqual(['ref', 'lbfgs', 'ls', 'ls-gn', 'tr', 'tr-gn']);
    const st = GREENLEARNING_SETTINGS.tiny;
    const [ref, ...second] = r.runs;
    expect(ref.summary.epochs).toBe(st.refEpochs);
    expect(ref.header.batchesPerEpoch).toBe(1);
    expect(ref.header.taoType).toBe('adamw');
    expect(ref.header.metric).toBe('mean squared relative error');
    // lr 1e-3 x 0.9 every halvingEpochs
    for (const rec of ref.records) {
      if (rec.stepLength !== null) expect(rec.stepLength).toBeCloseTo(1e-3 * 0.9 ** Math.floor(rec.iteration / st.halvingEpochs), 12);
    }
    const l0 = second[0].records[0].loss;
    for (const run of r.runs) expect(run.records[0].loss).toBe(l0);
    // the loss at the start, recomputed: encoded f through the same network, decoded, eq. 6 against u
    const data = poisson2d({ train: st.train, test: st.test, resolution: st.resolution, simulationResolution: st.simulationResolution, seed: 1234 });
    const xn = UnitGaussianNormalizer.fit(data.train.x);
    const yn = UnitGaussianNormalizer.fit(data.train.y);
    const net = greenLearning({ resolution: st.resolution, width: st.width, depth: st.depth, indexing: 'xy', seed: 1234 });
    const x = xn.encode(data.train.x);
    const pred = tf.tidy(() => net.apply(net.params, tf.tensor2d(x.values, x.shape as [number, number])).dataSync());
    net.dispose();
    const cols = st.resolution ** 2;
    let loss = 0;
    for (let n = 0; n < st.train; n++) {
      let num = 0, den = 0;
      for (let j = 0; j < cols; j++) {
        const y = data.train.y.values[n * cols + j];
        num += (pred[n * cols + j] * (yn.std[j] + yn.eps) + yn.mean[j] - y) ** 2;
        den += y * y;
      }
      loss += num / den / st.train;
    }
    expect(l0).toBeCloseTo(loss, 4);
    expect(Math.abs(l0 - loss) / loss).toBeLessThan(1e-4);
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
    expect(results).toMatchObject({ case: 'greenlearning', reference: 'adamw', parameters: r.parameters });
    expect(lines[0]).toMatch(/GreenLearning MLP 4 -> 6 x 2 -> 1/);
    expect(lines.join('\n')).toMatch(/headline/);
  }, 60_000);

  it('adam-l2: the authors\' Adam with coupled L2 decay', async () => {
    const r = await reproduceGreenLearning({ size: 'tiny', out: path.join(dir, 'l2'), reference: 'adam-l2', solvers: ['tr-gn'], progress: false, plot: false, say: () => {} });
    expect(r.runs[0].label).toBe('REF (Adam, coupled L2)');
    expect(r.runs[0].header.taoType).toBe('adam');
    expect(Number(r.runs[0].header.options.tao_adam_weight_decay)).toBe(1e-4);
  }, 60_000);

  it('reads the authors\' train.mat and the test.mat beside it (--data), 29 x 29 strided, 421 x 421 subsampled by 15 first', async () => {
    const st = GREENLEARNING_SETTINGS.tiny;
    // 29 x 29 data whose vertex-grid stride to 5 x 5 is the tiny size's own generated data
    const gen = poisson2d({ train: st.train, test: st.test, resolution: st.resolution, simulationResolution: st.simulationResolution, seed: 1234 });
    const opts = { size: 'tiny', solvers: ['tr-gn'], progress: false, plot: false, say: () => {} } as const;
    const mine = await reproduceGreenLearning({ ...opts, out: path.join(dir, 'gen') });
    const at29 = path.join(dir, 'at29');
    fs.mkdirSync(at29);
    writeMat(path.join(at29, 'train.mat'), { force: embed(gen.train.x.values, st.train, 5, 29), sol: embed(gen.train.y.values, st.train, 5, 29) }, st.train, 29);
    writeMat(path.join(at29, 'test.mat'), { force: embed(gen.test.x.values, st.test, 5, 29), sol: embed(gen.test.y.values, st.test, 5, 29) }, st.test, 29);
    const r29 = await reproduceGreenLearning({ ...opts, out: path.join(dir, 'f29'), data: path.join(at29, 'train.mat') });
    expect(r29.runs[0].header.samples).toBe(st.train);
    expect(r29.runs[0].records.map((x) => [x.loss, x.testMetric])).toEqual(mine.runs[0].records.map((x) => [x.loss, x.testMetric]));
    // 421 x 421: the authors' [::15][:29] lands on the same points
    const at421 = path.join(dir, 'at421');
    fs.mkdirSync(at421);
    const big = (v: ArrayLike<number>, n: number) => embed(embed(v, n, 5, 29), n, 29, 421);
    writeMat(path.join(at421, 'train.mat'), { force: big(gen.train.x.values, st.train), sol: big(gen.train.y.values, st.train) }, st.train, 421);
    writeMat(path.join(at421, 'test.mat'), { force: big(gen.test.x.values, st.test), sol: big(gen.test.y.values, st.test) }, st.test, 421);
    const r421 = await reproduceGreenLearning({ ...opts, out: path.join(dir, 'f421'), data: path.join(at421, 'train.mat') });
    expect(r421.runs[0].records.map((x) => [x.loss, x.testMetric])).toEqual(mine.runs[0].records.map((x) => [x.loss, x.testMetric]));

    const lone = path.join(dir, 'lone');
    fs.mkdirSync(lone);
    fs.copyFileSync(path.join(at29, 'train.mat'), path.join(lone, 'forces.mat'));
    await expect(reproduceGreenLearning({ ...opts, out: dir, data: path.join(lone, 'forces.mat') })).rejects.toThrow(
      /petscml: reproduce greenlearning: --data .*forces\.mat: no test file next to it \(looked for .*lone\/test\.mat\)/);
    const odd = path.join(dir, 'odd');
    fs.mkdirSync(odd);
    const v = Float64Array.from({ length: st.train * 30 * 30 }, (_, k) => Math.cos(k));
    writeMat(path.join(odd, 'train.mat'), { force: v, sol: v }, st.train, 30);
    fs.copyFileSync(path.join(at29, 'test.mat'), path.join(odd, 'test.mat'));
    await expect(reproduceGreenLearning({ ...opts, out: dir, data: path.join(odd, 'train.mat') })).rejects.toThrow(/a 30 x 30 grid cannot be strided to 5 x 5/);
    const noSol = path.join(dir, 'nosol');
    fs.mkdirSync(noSol);
    writeMat(path.join(noSol, 'train.mat'), { force: embed(gen.train.x.values, st.train, 5, 29) }, st.train, 29);
    fs.copyFileSync(path.join(at29, 'test.mat'), path.join(noSol, 'test.mat'));
    await expect(reproduceGreenLearning({ ...opts, out: dir, data: path.join(noSol, 'train.mat') })).rejects.toThrow(/'sol'/);
    const few = path.join(dir, 'few');
    fs.mkdirSync(few);
    fs.copyFileSync(path.join(at29, 'train.mat'), path.join(few, 'train.mat'));
    writeMat(path.join(few, 'test.mat'), { force: embed(gen.test.x.values, 2, 5, 29), sol: embed(gen.test.y.values, 2, 5, 29) }, 2, 29);
    await expect(reproduceGreenLearning({ ...opts, out: dir, data: path.join(few, 'train.mat') })).rejects.toThrow(/test\.mat: 2 samples, fewer than the 5 test samples/);
  }, 60_000);

  it('refuses bad options by name', async () => {
    await expect(reproduceGreenLearning({ size: 'huge' as never, out: dir })).rejects.toThrow(/reproduce greenlearning: size must be tiny, small or paper, got 'huge'/);
    await expect(reproduceGreenLearning({ out: dir, solvers: ['sgd'] as never })).rejects.toThrow(/'sgd' is not one of the second-order presets/);
    await expect(reproduceGreenLearning({ out: dir, reference: 'adam' })).rejects.toThrow(/reference must be adamw or adam-l2, got 'adam'/);
    await expect(reproduceGreenLearning({ out: dir, halvingEpochs: 0 })).rejects.toThrow(/halvingEpochs must be a positive integer, got 0/);
    await expect(reproduceGreenLearning({ size: 'tiny', out: dir, warmupEpochs: 4 })).rejects.toThrow(/warmupEpochs \(4\) must be fewer than REF's epochs \(4\)/);
    const c = await loadCase('greenlearning');
    expect(c?.references).toEqual(['adamw', 'adam-l2']);
    expect(c?.stepSchedule).toBe(true);
  });
});
