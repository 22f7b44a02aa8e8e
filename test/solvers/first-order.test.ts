/**
 * adam, adamw and sgd as TAO types, checked against tfjs's own optimizers (same initial weights,
 * same mini-batch order, same loss) and against a float64 AdamW written here.
 *
 * Tolerance against tfjs: tfjs keeps parameters and optimizer state in float32 (unit roundoff
 * 6e-8) and rounds each step's update to float32, while the TAO types update in float64 from the
 * same float32 gradients. Over the 60 steps below the two trajectories separate by the
 * accumulated float32 roundings of the reference (60 * 6e-8 ~ 4e-6 relative at worst, less as
 * they partly cancel) amplified by the smooth dependence of later gradients on earlier points; we
 * require max |x_tao - x_tfjs| <= 1e-4 * max |x_tfjs|, and check that every run moved the
 * parameters by far more than that (so a wrong formula cannot pass).
 */
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  attachFunction, createTfjsFunction, driveMiniBatches, FIRST_ORDER_OPTIONS, initBackend, meanSquaredError, Options,
  PetscError, Tao, TfjsFunction, Vec, type OptionValue, type TaoStatus,
} from '../../src';

const N_SAMPLES = 48;
const BATCH = 16; // 3 mini-batches
const STEPS = 60; // 20 epochs

type Params = Record<string, tf.Tensor>;
const NAMES = ['W1', 'b1', 'W2', 'b2'] as const;
const apply = (p: Params, x: tf.Tensor) => tf.add(tf.matMul(tf.tanh(tf.add(tf.matMul(x, p.W1), p.b1)), p.W2), p.b2);

let xs: tf.Tensor2D;
let ys: tf.Tensor2D;
let initial: Params;
let fn: TfjsFunction;
let x0: Float64Array;
let runId = 0;

function lcg(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

beforeAll(async () => {
  await initBackend({ backend: 'cpu', quiet: true });
  const r = lcg(7);
  const xv = new Float32Array(N_SAMPLES * 3), yv = new Float32Array(N_SAMPLES * 2);
  for (let i = 0; i < N_SAMPLES; i++) {
    const a = r(), b = r(), c = r();
    xv.set([a, b, c], 3 * i);
    yv.set([Math.sin(2 * a) + b * c, Math.cos(b) - 0.5 * a], 2 * i);
  }
  xs = tf.tensor2d(xv, [N_SAMPLES, 3]);
  ys = tf.tensor2d(yv, [N_SAMPLES, 2]);
  const w = lcg(11);
  const init = (shape: number[], scale: number) =>
    tf.tensor(Float32Array.from({ length: shape.reduce((s, d) => s * d, 1) }, () => scale * w()), shape);
  initial = { W1: init([3, 8], 0.8), b1: init([8], 0.1), W2: init([8, 2], 0.5), b2: init([2], 0.1) };
  fn = await createTfjsFunction({ model: { apply, params: initial }, data: { x: xs, y: ys }, batchSize: BATCH, backend: 'cpu', quiet: true });
  x0 = fn.initialParameters();
});

interface TaoRun { x: Float64Array; statuses: TaoStatus[]; reasonName: string; updates: number; evaluations: number }

/** N steps of a first-order TAO type on the mini-batched function, with -<prefix>tao_<type>_<k> options. */
function runTao(type: string, settings: Record<string, OptionValue>, steps = STEPS): TaoRun {
  const prefix = `fo${runId++}_`;
  const tao = new Tao({ type, prefix });
  const attached = attachFunction(tao, fn, { hessian: 'none' });
  driveMiniBatches(tao, fn);
  const opts = new Options(prefix);
  for (const [k, v] of Object.entries(settings)) opts.set(`tao_${type}_${k}`, v);
  tao.setFromOptions();
  tao.maxIterations = steps;
  tao.setTolerances({ gatol: 0, grtol: 0, gttol: 0 });
  const statuses: TaoStatus[] = [];
  tao.setMonitor((s) => statuses.push(s));
  const x = Vec.fromArray(x0);
  const r = tao.solve(x);
  const out = { x: x.toArray(), statuses, reasonName: r.reasonName, updates: r.counts.update, evaluations: r.counts.objectiveAndGradient };
  attached.destroy();
  tao.destroy();
  x.destroy();
  return out;
}

/** The same N steps with a tfjs optimizer: batch k % 3 at step k, lr set before step k when given. */
function runTfjs(opt: tf.Optimizer, setLr?: (k: number) => void, steps = STEPS): Float64Array {
  const vars = NAMES.map((n) => tf.variable(initial[n].clone(), true, `fo_ref_${runId++}_${n}`));
  const batches = [0, 1, 2].map((b) => ({ x: xs.slice(b * BATCH, BATCH), y: ys.slice(b * BATCH, BATCH) }));
  for (let k = 0; k < steps; k++) {
    setLr?.(k);
    const b = batches[k % 3];
    opt.minimize(() => {
      const p: Params = {};
      NAMES.forEach((n, i) => { p[n] = vars[i]; });
      return meanSquaredError(apply(p, b.x), b.y);
    }, false, vars);
  }
  const flat = Float64Array.from(vars.flatMap((v) => Array.from(v.dataSync())));
  tf.dispose([...vars, ...batches.flatMap((b) => [b.x, b.y])]);
  opt.dispose();
  return flat;
}

function maxAbs(a: Float64Array): number {
  return a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
}
function maxDiff(a: Float64Array, b: Float64Array): number {
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

/** Asserts the TAO result matches the reference to `rel` and that the run moved well beyond that. */
function expectMatch(tao: Float64Array, ref: Float64Array, rel: number, label: string) {
  const err = maxDiff(tao, ref) / maxAbs(ref);
  const moved = maxDiff(ref, x0) / maxAbs(ref);
  // eslint-disable-next-line no-console
  console.log(`${label}: relative difference ${err.toExponential(2)}, displacement ${moved.toExponential(2)}`);
  expect(err).toBeLessThanOrEqual(rel);
  expect(moved).toBeGreaterThan(100 * rel);
}

const epochOf = (k: number) => Math.floor(k / 3);
const staircase = (lr0: number, r: number, K: number) => (k: number) => lr0 * Math.pow(r, Math.floor(epochOf(k) / K));
const inverseTime = (lr0: number, r: number, K: number) => (k: number) => lr0 / (1 + (r * epochOf(k)) / K);

describe('adam against tf.train.adam', () => {
  it('matches after 60 mini-batch steps, performs exactly max_it steps and reports lr as stepLength', () => {
    const t = runTao('adam', { lr: 0.01 });
    // tfjs's epsilon defaults to the backend's (1e-7): passed explicitly to match ours (1e-8).
    const ref = runTfjs(tf.train.adam(0.01, 0.9, 0.999, 1e-8));
    expectMatch(t.x, ref, 1e-4, 'adam');
    expect(t.reasonName).toBe('DIVERGED_MAXITS');
    expect(t.evaluations).toBe(STEPS + 1);
    expect(t.updates).toBe(STEPS + 1);
    expect(t.statuses.map((s) => s.iteration)).toEqual([...Array(STEPS + 1).keys()]);
    expect(t.statuses.every((s) => s.stepLength === 0.01)).toBe(true);
  });

  it('matches with a staircase schedule (lr set per epoch in the tfjs loop)', () => {
    const lrAt = staircase(0.02, 0.5, 2);
    const t = runTao('adam', { lr: 0.02, lr_schedule: 'staircase', lr_decay_rate: 0.5, lr_decay_epochs: 2 });
    const opt = tf.train.adam(0.02, 0.9, 0.999, 1e-8);
    const ref = runTfjs(opt, (k) => { (opt as unknown as { learningRate: number }).learningRate = lrAt(k); });
    expectMatch(t.x, ref, 1e-4, 'adam staircase');
    t.statuses.forEach((s) => expect(s.stepLength).toBeCloseTo(lrAt(s.iteration), 15));
    expect(t.statuses[STEPS].stepLength).toBeCloseTo(0.02 * 0.5 ** 10, 15);
  });

  it('matches with an inverse_time schedule', () => {
    const lrAt = inverseTime(0.02, 1, 2);
    const t = runTao('adam', { lr: 0.02, lr_schedule: 'inverse_time', lr_decay_rate: 1, lr_decay_epochs: 2 });
    const opt = tf.train.adam(0.02, 0.9, 0.999, 1e-8);
    const ref = runTfjs(opt, (k) => { (opt as unknown as { learningRate: number }).learningRate = lrAt(k); });
    expectMatch(t.x, ref, 1e-4, 'adam inverse_time');
    t.statuses.forEach((s) => expect(s.stepLength).toBeCloseTo(lrAt(s.iteration), 15));
  });
});

describe('sgd against tf.train.momentum', () => {
  it('heavy-ball momentum matches', () => {
    const t = runTao('sgd', { lr: 0.05, momentum: 0.9 });
    const ref = runTfjs(tf.train.momentum(0.05, 0.9, false));
    expectMatch(t.x, ref, 1e-4, 'sgd momentum');
  });

  it('Nesterov momentum matches', () => {
    const t = runTao('sgd', { lr: 0.05, momentum: 0.9, nesterov: true });
    const ref = runTfjs(tf.train.momentum(0.05, 0.9, true));
    expectMatch(t.x, ref, 1e-4, 'sgd nesterov');
  });

  it('matches with staircase and inverse_time schedules', () => {
    const stair = staircase(0.1, 0.5, 2);
    const t1 = runTao('sgd', { lr: 0.1, momentum: 0.8, lr_schedule: 'staircase', lr_decay_rate: 0.5, lr_decay_epochs: 2 });
    const o1 = tf.train.momentum(0.1, 0.8, false);
    expectMatch(t1.x, runTfjs(o1, (k) => o1.setLearningRate(stair(k))), 1e-4, 'sgd staircase');
    const inv = inverseTime(0.1, 0.5, 1);
    const t2 = runTao('sgd', { lr: 0.1, momentum: 0.8, nesterov: true, lr_schedule: 'inverse_time', lr_decay_rate: 0.5, lr_decay_epochs: 1 });
    const o2 = tf.train.momentum(0.1, 0.8, true);
    expectMatch(t2.x, runTfjs(o2, (k) => o2.setLearningRate(inv(k))), 1e-4, 'sgd nesterov inverse_time');
  });
});

describe('adamw', () => {
  it('with weight_decay 0 is adam, bit for bit', () => {
    const a = runTao('adam', { lr: 0.01 });
    const w = runTao('adamw', { lr: 0.01, weight_decay: 0 });
    expect(maxDiff(a.x, w.x)).toBe(0);
  });

  /**
   * torch.optim.AdamW's single-tensor arrangement, in float64 on the function's own gradients:
   * decay first, then the Adam step with the bias corrections on the step size and on sqrt(v).
   * Both sides evaluate the same float32 gradients at float64 points that agree to rounding, so
   * they may differ only by float64 roundings (measured ~1e-15) or, should such a difference flip
   * a float32 rounding of an input, by ~6e-8 relative in one gradient: tolerance 1e-6.
   * Unlike the float32 comparison with tfjs, this sees the exact placement of epsilon.
   */
  function adamwReference(wd: number, lrAt: (k: number) => number): Float64Array {
    const b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const x = x0.slice(), m = new Float64Array(x.length), v = new Float64Array(x.length), g = new Float64Array(x.length);
    for (let k = 0; k < STEPS; k++) {
      fn.selectBatch(k % 3);
      fn.objectiveAndGradient(x, g);
      const lr = lrAt(k), step = k + 1;
      const bc1 = 1 - b1 ** step, bc2 = 1 - b2 ** step;
      for (let i = 0; i < x.length; i++) {
        x[i] *= 1 - lr * wd;
        m[i] += (g[i] - m[i]) * (1 - b1);
        v[i] = v[i] * b2 + (1 - b2) * g[i] * g[i];
        const denom = Math.sqrt(v[i]) / Math.sqrt(bc2) + eps;
        x[i] -= (lr / bc1) * (m[i] / denom);
      }
    }
    return x;
  }

  it('with weight_decay > 0 matches a float64 AdamW (PyTorch arrangement) on the same gradients', () => {
    const sched = { lr_schedule: 'staircase', lr_decay_rate: 0.5, lr_decay_epochs: 3 };
    const lrAt = staircase(0.01, 0.5, 3);
    const t = runTao('adamw', { lr: 0.01, weight_decay: 0.1, ...sched });
    expectMatch(t.x, adamwReference(0.1, lrAt), 1e-6, 'adamw float64');
    const a = runTao('adam', { lr: 0.01, ...sched });
    expectMatch(a.x, adamwReference(0, lrAt), 1e-6, 'adam float64');
    // the decay did something
    expect(maxDiff(a.x, t.x) / maxAbs(t.x)).toBeGreaterThan(1e-3);
  });

  // PyTorch's Adam(weight_decay=wd), the FNO scripts' optimizer: the decay enters the gradient.
  function coupledReference(type: 'adam' | 'sgd', wd: number, lr: number): Float64Array {
    const b1 = 0.9, b2 = 0.999, eps = 1e-8, mu = 0.9;
    const x = x0.slice(), m = new Float64Array(x.length), v = new Float64Array(x.length), g = new Float64Array(x.length);
    for (let k = 0; k < STEPS; k++) {
      fn.selectBatch(k % 3);
      fn.objectiveAndGradient(x, g);
      const step = k + 1;
      for (let i = 0; i < x.length; i++) {
        const gi = g[i] + wd * x[i];
        if (type === 'sgd') {
          m[i] = mu * m[i] + gi;
          x[i] -= lr * m[i];
          continue;
        }
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        x[i] -= lr * (m[i] / (1 - b1 ** step) / (Math.sqrt(v[i] / (1 - b2 ** step)) + eps));
      }
    }
    return x;
  }

  it.each(['adam', 'sgd'] as const)('%s with weight_decay > 0 is coupled L2 decay (PyTorch Adam / SGD weight_decay) in float64', (type) => {
    const lr = type === 'adam' ? 0.01 : 0.005;
    const t = runTao(type, { lr, weight_decay: 0.1 });
    expectMatch(t.x, coupledReference(type, 0.1, lr), 1e-6, `${type} coupled float64`);
    // not the decoupled update, and not the undecayed one
    expect(maxDiff(t.x, coupledReference(type, 0, lr)) / maxAbs(t.x)).toBeGreaterThan(1e-3);
    if (type === 'adam') expect(maxDiff(t.x, runTao('adamw', { lr, weight_decay: 0.1 }).x) / maxAbs(t.x)).toBeGreaterThan(1e-4);
  });
});

function fullLoss(x: Float64Array): number {
  let s = 0;
  for (let b = 0; b < 3; b++) {
    fn.selectBatch(b);
    s += fn.objective(x);
  }
  return s / 3; // equal batch sizes: the mean over the data set
}

describe('training the MLP', () => {
  it.each([
    ['adam', { lr: 0.01 }],
    ['adamw', { lr: 0.01 }],
    ['sgd', { lr: 0.05 }],
  ] as const)('%s lowers the data-set loss', (type, settings) => {
    const t = runTao(type, settings, 90);
    const f0 = fullLoss(x0), f1 = fullLoss(t.x);
    expect(f1).toBeLessThan(0.5 * f0);
    const epochMean = (e: number) => (t.statuses[3 * e].f + t.statuses[3 * e + 1].f + t.statuses[3 * e + 2].f) / 3;
    expect(epochMean(29)).toBeLessThan(epochMean(0));
  });
});

/** A Tao of `type` on f = sum x_i^4 / 4 (no tfjs), options under a fresh prefix. */
function quarticTao(type: string, settings: Record<string, OptionValue> = {}) {
  const prefix = `fq${runId++}_`;
  const opts = new Options(prefix);
  for (const [k, v] of Object.entries(settings)) opts.set(k, v);
  const tao = new Tao({ type, prefix });
  tao.setObjectiveAndGradient((x, g) => {
    let f = 0;
    for (let i = 0; i < x.length; i++) { f += x[i] ** 4 / 4; g[i] = x[i] ** 3; }
    return f;
  });
  return { tao, prefix, opts };
}

describe('options', () => {
  it.each([
    ['adam', 'lr', -1, /-P_tao_adam_lr must be a finite number > 0, got -1/],
    ['sgd', 'lr', 0, /-P_tao_sgd_lr must be a finite number > 0, got 0/],
    ['adam', 'beta1', 1, /-P_tao_adam_beta1 must be in \[0, 1\), got 1/],
    ['adamw', 'beta2', -0.1, /-P_tao_adamw_beta2 must be in \[0, 1\), got -0.1/],
    ['adam', 'epsilon', 0, /-P_tao_adam_epsilon must be a finite number > 0, got 0/],
    ['adamw', 'weight_decay', -0.01, /-P_tao_adamw_weight_decay must be a finite number >= 0, got -0.01/],
    ['adam', 'weight_decay', -1, /-P_tao_adam_weight_decay must be a finite number >= 0, got -1/],
    ['sgd', 'momentum', 1, /-P_tao_sgd_momentum must be in \[0, 1\), got 1/],
    ['sgd', 'steps_per_epoch', 0, /-P_tao_sgd_steps_per_epoch must be an integer >= 1, got 0/],
    ['adam', 'lr_decay_epochs', 0, /-P_tao_adam_lr_decay_epochs must be an integer >= 1, got 0/],
    ['adam', 'lr_decay_rate', -1, /-P_tao_adam_lr_decay_rate must be a finite number >= 0, got -1/],
  ] as const)('%s: -tao_<type>_%s %s is refused', (type, name, value, message) => {
    const { tao, prefix, opts } = quarticTao(type);
    opts.set(`tao_${type}_${name}`, value);
    let err: unknown;
    try { tao.setFromOptions(); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(PetscError);
    expect((err as PetscError).code).toBe(63); // PETSC_ERR_ARG_OUTOFRANGE
    expect((err as PetscError).message).toMatch(new RegExp(message.source.replace('-P_', `-${prefix}`)));
    tao.destroy();
  });

  it('refuses Nesterov without momentum, a staircase rate of 0, an unknown schedule and a non-number', () => {
    const cases: [string, Record<string, OptionValue>, RegExp][] = [
      ['sgd', { tao_sgd_nesterov: true, tao_sgd_momentum: 0 }, /tao_sgd_nesterov needs a momentum > 0/],
      ['adam', { tao_adam_lr_schedule: 'staircase', tao_adam_lr_decay_rate: 0 }, /tao_adam_lr_decay_rate must be > 0 for the staircase schedule/],
      ['adam', { tao_adam_lr_schedule: 'cosine' }, /cosine/],
      ['adamw', { tao_adamw_lr: 'fast' }, /fast/],
    ];
    for (const [type, settings, message] of cases) {
      const { tao } = quarticTao(type, settings);
      expect(() => tao.setFromOptions()).toThrow(message);
      tao.destroy();
    }
  });

  it('-<prefix>tao_type selects the type and its options; TaoView prints the settings', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'petscml-fo-')), 'view.txt');
    const { tao } = quarticTao('lmvm', {
      tao_type: 'adamw', tao_adamw_lr: 0.002, tao_adamw_weight_decay: 0.05, tao_adamw_lr_schedule: 'inverse_time',
      tao_adamw_lr_decay_rate: 0.25, tao_adamw_lr_decay_epochs: 4, tao_adamw_steps_per_epoch: 5, tao_view: `ascii:${file}`,
    });
    tao.setFromOptions();
    expect(tao.type).toBe('adamw');
    tao.maxIterations = 12;
    const x = Vec.fromArray(new Float64Array([1, -0.5]));
    const r = tao.solve(x);
    // step 12 is in epoch 2: lr = 0.002 / (1 + 0.25 * 2 / 4)
    expect(r.stepLength).toBeCloseTo(0.002 / 1.125, 15);
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('type: adamw');
    expect(text).toContain('AdamW: lr 0.002, beta1 0.9, beta2 0.999, epsilon 1e-08, decoupled weight decay 0.05');
    expect(text).toContain('learning-rate schedule: inverse_time, lr = lr0 / (1 + 0.25 * epoch / 4)');
    expect(text).toContain('steps per epoch 5');
    tao.destroy();
    x.destroy();
  });

  it('the defaults of FIRST_ORDER_OPTIONS are the ones the solvers use', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'petscml-fo-')), 'view.txt');
    const def = (name: string, type: 'adam' | 'adamw' | 'sgd') => FIRST_ORDER_OPTIONS.find((o) => o.name === name)!.defaults[type];
    for (const type of ['adam', 'adamw', 'sgd'] as const) {
      const { tao } = quarticTao(type, { tao_view: `ascii:${file}` });
      tao.setFromOptions();
      tao.maxIterations = 1;
      const x = Vec.fromArray(new Float64Array([1]));
      tao.solve(x);
      const text = readFileSync(file, 'utf8');
      const fmt = (v: unknown) => (v === 1e-8 ? '1e-08' : String(v));
      if (type === 'sgd') {
        expect(text).toContain(`SGD: lr ${fmt(def('lr', type))}, heavy-ball momentum ${fmt(def('momentum', type))}, Nesterov no, `
          + `coupled L2 weight decay ${fmt(def('weight_decay', type))}`);
      } else {
        const head = `${type === 'adam' ? 'Adam' : 'AdamW'}: lr ${fmt(def('lr', type))}, beta1 ${fmt(def('beta1', type))}, `
          + `beta2 ${fmt(def('beta2', type))}, epsilon ${fmt(def('epsilon', type))}`;
        expect(text).toContain(`${head}, ${type === 'adam' ? 'coupled L2' : 'decoupled'} weight decay ${fmt(def('weight_decay', type))}`);
      }
      expect(text).toContain(`learning-rate schedule: ${def('lr_schedule', type)}`);
      expect(text).toContain(`steps per epoch ${def('steps_per_epoch', type)}`);
      tao.destroy();
      x.destroy();
    }
  });
});

describe('solver behaviour', () => {
  it('a learning rate that blows up stops with DIVERGED_NAN instead of throwing', () => {
    const { tao } = quarticTao('sgd', { tao_sgd_lr: 10, tao_sgd_momentum: 0, tao_grtol: 0 });
    tao.setFromOptions();
    tao.maxIterations = 100;
    const x = Vec.fromArray(new Float64Array([2, -3]));
    const r = tao.solve(x);
    expect(r.reasonName).toBe('DIVERGED_NAN');
    expect(r.converged).toBe(false);
    expect(r.iterations).toBeLessThan(20);
    tao.destroy();
    x.destroy();
  });

  it('stops on TAO\'s gradient tolerance like any TAO type', () => {
    const { tao } = quarticTao('adam', { tao_adam_lr: 0.05, tao_gatol: 1e-3 });
    tao.setFromOptions();
    const x = Vec.fromArray(new Float64Array([1, -1]));
    const r = tao.solve(x);
    expect(r.reasonName).toBe('CONVERGED_GATOL');
    expect(r.gnorm).toBeLessThanOrEqual(1e-3);
    tao.destroy();
    x.destroy();
  });

  it('refuses variable bounds (the types are unconstrained)', () => {
    const { tao } = quarticTao('adam');
    const lo = Vec.fromArray(new Float64Array([-1])), hi = Vec.fromArray(new Float64Array([1])), x = Vec.fromArray(new Float64Array([0.5]));
    tao.setVariableBounds(lo, hi);
    expect(() => tao.solve(x)).toThrow(/adam is for unconstrained problems: variable bounds are not supported/);
    tao.destroy();
    [lo, hi, x].forEach((v) => v.destroy());
  });
});

describe('driveMiniBatches', () => {
  it('selects batch k % batchCount at step k and sets steps_per_epoch unless already set', () => {
    const seen: number[] = [];
    const batched = { batchCount: 4, selectBatch: (i: number) => { seen.push(i); } };
    const { tao, opts } = quarticTao('sgd', { tao_adam_steps_per_epoch: 7 });
    expect(driveMiniBatches(tao, batched)).toBe(4);
    expect(opts.get('tao_sgd_steps_per_epoch')).toBe('4');
    expect(opts.get('tao_adamw_steps_per_epoch')).toBe('4');
    expect(opts.get('tao_adam_steps_per_epoch')).toBe('7');
    opts.set('tao_sgd_lr_schedule', 'staircase');
    tao.setFromOptions();
    tao.maxIterations = 9;
    const statuses: TaoStatus[] = [];
    tao.setMonitor((s) => statuses.push(s));
    const x = Vec.fromArray(new Float64Array([0.5]));
    tao.solve(x);
    expect(seen).toEqual([0, 1, 2, 3, 0, 1, 2, 3, 0, 1]);
    // epochs of 4 steps, halving every epoch
    expect(statuses.map((s) => s.stepLength)).toEqual([0.01, 0.01, 0.01, 0.01, 0.005, 0.005, 0.005, 0.005, 0.0025, 0.0025]);
    tao.destroy();
    x.destroy();
  });

  it('checks its arguments', () => {
    const tao = new Tao({ type: 'adam' });
    expect(() => driveMiniBatches({} as Tao, { batchCount: 2, selectBatch() {} })).toThrow(/petscml: driveMiniBatches: tao: expected a Tao/);
    expect(() => driveMiniBatches(tao, null as never)).toThrow(/petscml: driveMiniBatches: fn: expected a function with selectBatch/);
    expect(() => driveMiniBatches(tao, { batchCount: 0, selectBatch() {} })).toThrow(/petscml: driveMiniBatches: fn.batchCount: expected an integer >= 1, got 0/);
    tao.destroy();
  });
});
