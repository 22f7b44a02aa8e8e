// Issue 10, training layer: bad input is refused with an error naming the problem, options never
// leak between solvers, every option a preset sets takes effect, solve() repeats a run, and
// nothing leaks (tensors, file descriptors) whatever path a solver takes.
import * as tf from '@tensorflow/tfjs';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSolver, createTfjsFunction, initBackend, Options, PRESETS, readLog, type PresetName, type TfjsFunction } from '../../src';

const presets = Object.keys(PRESETS) as PresetName[];
const rng = (seed: number) => () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32 - 0.5; };
const arr = (n: number, seed = 1) => Float32Array.from({ length: n }, rng(seed));

function mlp(out = 1, inputs = 2) {
  return tf.sequential({ layers: [
    tf.layers.dense({ inputShape: [inputs], units: 4, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 1 }) }),
    tf.layers.dense({ units: out, kernelInitializer: tf.initializers.glorotNormal({ seed: 2 }) }),
  ] });
}
const X = { values: arr(16), shape: [8, 2] };
const Y1 = { values: arr(8, 2), shape: [8, 1] };

async function fnFor(opts: { batchSize?: number } = {}): Promise<TfjsFunction> {
  return createTfjsFunction({ model: mlp(), data: { x: X, y: Y1 }, quiet: true, ...opts });
}

/** What the options database holds (a solver must leave it as it found it). */
const db = () => Options.all();
const openFds = () => fs.readdirSync('/proc/self/fd').length;

beforeAll(async () => {
  await initBackend({ backend: 'cpu', quiet: true });
});
afterEach(() => vi.restoreAllMocks());

describe('shapes and data are checked when the function is created', () => {
  const cases: [string, () => Promise<unknown>, RegExp][] = [
    ['[n, 1] output against y of shape [n] (was broadcast to n x n)',
      () => createTfjsFunction({ model: mlp(), data: { x: X, y: { values: arr(8), shape: [8] } } }),
      /model's output has shape \[8, 1\].*y has shape \[8\]/],
    ['a 1-column output against 3-column y',
      () => createTfjsFunction({ model: mlp(1), data: { x: X, y: { values: arr(24), shape: [8, 3] } } }),
      /output has shape \[8, 1\].*y has shape \[8, 3\]/],
    ['x of the wrong width for the model',
      () => createTfjsFunction({ model: mlp(), data: { x: { values: arr(24), shape: [8, 3] }, y: Y1 } }),
      /x has shape \[8, 3\], \[3\] per sample, but the model takes \[2\] per sample/],
    ['x and y with different sample counts',
      () => createTfjsFunction({ model: mlp(), data: { x: X, y: { values: arr(7), shape: [7, 1] } } }),
      /x has 8 samples .* but y has 7/],
    ['0 samples (was loss 0, "converged")',
      () => createTfjsFunction({ model: mlp(), data: { x: { values: [], shape: [0, 2] }, y: { values: [], shape: [0, 1] } } }),
      /has 0 samples/],
    ['an empty iterable', () => createTfjsFunction({ model: mlp(), data: [] }), /yielded no batches/],
    ['an empty batch in an iterable',
      () => createTfjsFunction({ model: mlp(), data: [{ x: X, y: Y1 }, { x: { values: [], shape: [0, 2] }, y: { values: [], shape: [0, 1] } }] }),
      /batch 1 has 0 samples/],
    ['a NaN in x, named by its sample',
      () => { const v = arr(16); v[7] = NaN; return createTfjsFunction({ model: mlp(), data: { x: { values: v, shape: [8, 2] }, y: Y1 } }); },
      /data x has NaN at sample 3/],
    ['an infinite y', () => { const v = arr(8); v[5] = Infinity; return createTfjsFunction({ model: mlp(), data: { x: X, y: { values: v, shape: [8, 1] } } }); },
      /data y has Infinity at sample 5/],
    ['values that do not fill the shape', () => createTfjsFunction({ model: mlp(), data: { x: { values: arr(15), shape: [8, 2] }, y: Y1 } }),
      /data x has shape \[8, 2\] \(16 values\) but 15 values/],
    ['a loss that returns a non-scalar (was used through its first element)',
      () => createTfjsFunction({ model: mlp(), loss: (p, t) => tf.square(tf.sub(p, t)) as tf.Scalar, data: { x: X, y: Y1 } }),
      /the loss .*must return a scalar \(shape \[\]\), returned shape \[8, 1\]/],
    ['a loss that returns no tensor', () => createTfjsFunction({ model: mlp(), loss: (() => 3) as never, data: { x: X, y: Y1 } }),
      /the loss .*must return a scalar tf.Tensor/],
    ['iterable batches whose shapes differ',
      () => createTfjsFunction({ model: mlp(), data: [{ x: X, y: Y1 }, { x: X, y: { values: arr(16), shape: [8, 2] } }] }),
      /batch 1 has x \[8, 2\] and y \[8, 2\], but batch 0 has x \[8, 2\] and y \[8, 1\]/],
    ['a mismatch in a batch from an async iterable',
      () => createTfjsFunction({ model: mlp(), data: (async function* () { yield { x: X, y: { values: arr(24), shape: [8, 3] } }; })() }),
      /output has shape \[8, 1\] on data .*y has shape \[8, 3\]/],
    ['a plain { apply, params } model whose output does not match y',
      () => createTfjsFunction({ model: { params: { w: tf.ones([2, 1]) }, apply: (p, x) => tf.matMul(x, p.w) }, data: { x: X, y: { values: arr(8), shape: [8] } } }),
      /output has shape \[8, 1\].*y has shape \[8\]/],
    ['a plain model without params', () => createTfjsFunction({ model: { params: {}, apply: (_p: unknown, x: tf.Tensor) => x } as never, data: { x: X, y: Y1 } }),
      /params a non-empty record of tf.Tensors/],
    ['an unknown option (a typo would be ignored)', () => createTfjsFunction({ model: mlp(), data: { x: X, y: Y1 }, batchsize: 2 } as never),
      /unknown option 'batchsize'/],
    ['batchSize that is not a positive integer', () => createTfjsFunction({ model: mlp(), data: { x: X, y: Y1 }, batchSize: 2.5 }),
      /batchSize must be an integer in \[1, 2147483647\], got 2.5/],
    ['batchSize beyond a PETSc integer', () => createTfjsFunction({ model: mlp(), data: { x: X, y: Y1 }, batchSize: 2 ** 32 + 2 }),
      /batchSize must be an integer/],
    ['batchSize with an iterable', () => createTfjsFunction({ model: mlp(), data: [{ x: X, y: Y1 }], batchSize: 2 }),
      /batchSize splits in-memory/],
  ];
  for (const [what, make, message] of cases) {
    it(`refuses ${what}, and leaks no tensor`, async () => {
      const net = mlp(); // model variables are the caller's: made before counting
      void net;
      const before = tf.memory().numTensors;
      await expect(make()).rejects.toThrow(message);
      // every case builds its own model (a few variables): only those may remain
      expect(tf.memory().numTensors - before).toBeLessThanOrEqual(4 + 1);
    });
  }

  it('refuses a test set that does not fit the model, and a metric that is not a scalar, in createSolver', async () => {
    const fn = await fnFor();
    const before = db();
    try {
      expect(() => createSolver(fn, { preset: 'lbfgs', test: { data: { x: X, y: { values: arr(24), shape: [8, 3] } } } }))
        .toThrow(/test.data has x \[8, 2\] and y \[8, 3\], but the training data has x \[8, 2\] and y \[8, 1\]/);
      expect(() => createSolver(fn, { preset: 'lbfgs', test: { data: { x: X, y: { values: arr(8), shape: [8] } } } })).toThrow(/test.data has .*y \[8\]/);
      expect(() => createSolver(fn, { preset: 'lbfgs', test: { data: { x: { values: [], shape: [0, 2] }, y: { values: [], shape: [0, 1] } } } })).toThrow(/0 samples/);
      const nan = arr(8); nan[2] = NaN;
      expect(() => createSolver(fn, { preset: 'lbfgs', test: { data: { x: X, y: { values: nan, shape: [8, 1] } } } })).toThrow(/test.data y has NaN at sample 2/);
      expect(() => createSolver(fn, { preset: 'lbfgs', test: { data: { x: X, y: Y1 }, metric: (p, t) => tf.abs(tf.sub(p, t)) as tf.Scalar } }))
        .toThrow(/metric of createSolver: test.data .*must return a scalar/);
      expect(() => createSolver(fn, { preset: 'lbfgs', test: { data: { x: X, y: Y1 }, evry: 2 } as never })).toThrow(/unknown option 'evry' \(did you mean every\?\)/);
      expect(() => fn.evaluate(fn.initialParameters(), { x: X, y: { values: arr(8), shape: [8] } })).toThrow(/output has shape \[8, 1\] but y has shape \[8\]/);
      expect(db()).toBe(before);
      // still usable
      const s = createSolver(fn, { preset: 'lbfgs', epochs: 2, test: { data: { x: X, y: Y1 } } });
      expect(s.solve().summary.testMetric).toBeGreaterThan(0);
      s.destroy();
    } finally {
      fn.dispose();
    }
  });
});

describe('numbers are range-checked before they reach PETSc', () => {
  let fn: TfjsFunction;
  beforeAll(async () => { fn = await fnFor(); });

  const bad: [string, Record<string, unknown>, RegExp][] = [
    ['epochs 1e12 (ran 0 iterations)', { epochs: 1e12 }, /epochs must be an integer in \[1, 2147483647\], got 1000000000000/],
    ['epochs 2^32 + 2 (ran 2)', { epochs: 2 ** 32 + 2 }, /epochs must be an integer in \[1, 2147483647\], got 4294967298/],
    ['epochs 0', { epochs: 0 }, /epochs must be an integer in \[1/],
    ['epochs 1.5', { epochs: 1.5 }, /epochs must be an integer/],
    ['cfg tao_max_it 2^32 + 2', { cfg: { tao_max_it: 2 ** 32 + 2 } }, /option -tao_max_it \(from cfg\) must be an integer in \[0, 2147483647\], got 4294967298.*wrap/],
    ['cfg tao_max_it as a string', { cfg: { tao_max_it: '1e12' } }, /option -tao_max_it \(from cfg\) must be an integer/],
    ['cfg tao_max_it -1', { cfg: { tao_max_it: -1 } }, /tao_max_it.*\[0, 2147483647\]/],
    ['a KSP iteration limit', { preset: 'tr-gn', cfg: { tao_ntr_ksp_max_it: 3e9 } }, /option -tao_ntr_ksp_max_it \(from cfg\) must be an integer/],
    ['an L-BFGS history of 0', { cfg: { tao_lmvm_mat_lmvm_hist_size: 0 } }, /tao_lmvm_mat_lmvm_hist_size \(from cfg\) must be an integer in \[1, 2147483647\]/],
    ['a PC history beyond int', { preset: 'ls', cfg: { tao_nls_pc_lmvm_mat_lmvm_hist_size: 2 ** 31 } }, /tao_nls_pc_lmvm_mat_lmvm_hist_size/],
    ['tao_max_funcs -2', { cfg: { tao_max_funcs: -2 } }, /tao_max_funcs.*\[-1, /],
    ['a line-search budget of 2.5', { cfg: { tao_ls_max_funcs: 2.5 } }, /tao_ls_max_funcs.*integer/],
    ['a negative learning rate', { preset: 'adam', cfg: { tao_adam_lr: -1 } }, /option -tao_adam_lr \(from cfg\) must be a number in \(0, inf\), got -1/],
    ['momentum 1', { preset: 'sgd', cfg: { tao_sgd_momentum: 1 } }, /tao_sgd_momentum.*\[0, 1\)/],
    ['beta2 1.5', { preset: 'adam', cfg: { tao_adam_beta2: 1.5 } }, /tao_adam_beta2/],
    ['a negative tolerance', { cfg: { tao_gatol: -1 } }, /tao_gatol.*\[0, inf\)/],
    ['a trust radius of 0', { preset: 'tr', cfg: { tao_trust0: 0 } }, /tao_trust0.*\(0, inf\)/],
    ['test.every 2^32', { test: { data: { x: X, y: Y1 }, every: 2 ** 32 } }, /test.every must be an integer in \[1, 2147483647\]/],
  ];
  for (const [what, opts, message] of bad) {
    it(`refuses ${what} with a RangeError naming it, and leaves the database as it was`, () => {
      const before = db();
      let err: unknown;
      try { createSolver(fn, { preset: 'lbfgs', ...opts }); } catch (e) { err = e; }
      expect(err).toBeInstanceOf(RangeError);
      expect((err as Error).message).toMatch(message);
      expect(db()).toBe(before);
    });
  }

  it('a command-line value out of range is refused too, naming where it came from', () => {
    // From code, Options.set refuses it already (the bridge checks integer values)...
    expect(() => new Options('rg_').set('tao_max_it', 2 ** 32 + 2)).toThrow(/-rg_tao_max_it: 4294967298 is outside the range of a PetscInt/);
    // ...so the value can only come from a real command line, which PETSc reads at initialization.
    const script = `const { createSolver } = require(${JSON.stringify(path.resolve(__dirname, '../../dist'))});
      const fn = { size: 2, objective: (x) => x[0] * x[0] + x[1] * x[1], gradient: (x, g) => { g[0] = 2 * x[0]; g[1] = 2 * x[1]; },
        objectiveAndGradient(x, g) { this.gradient(x, g); return this.objective(x); } };
      try { createSolver(fn, { preset: 'lbfgs', prefix: 'rg_', params: new Float64Array(2) }); console.log('accepted'); }
      catch (e) { console.log(e.message); }`;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pml-argv-')), 'train.js');
    fs.writeFileSync(file, script);
    const r = spawnSync(process.execPath, [file, '-rg_tao_max_it', '4294967298'], { encoding: 'utf8', timeout: 60_000 });
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/option -rg_tao_max_it \(from the command line \(options database\)\) must be an integer/);
  });

  it('epochs x mini-batches beyond a PETSc integer is refused', async () => {
    const b = await fnFor({ batchSize: 2 });
    try {
      expect(() => createSolver(b, { preset: 'adam', epochs: 2 ** 30 })).toThrow(/epochs 1073741824 x 4 mini-batches = 4294967296 iterations/);
    } finally {
      b.dispose();
    }
  });

  it('unknown and mistyped createSolver options are refused (a typo would be ignored)', () => {
    expect(() => createSolver(fn, { preset: 'lbfgs', epoch: 3 } as never)).toThrow(/unknown option 'epoch' \(did you mean epochs\?\)/);
    expect(() => createSolver(fn, { preset: 'lbfgs', hessian: 'gn' as never })).toThrow(/hessian: expected 'exact', 'gauss-newton' or 'none'/);
    expect(() => createSolver(fn, { preset: 'lbfgs', monitor: 3 as never })).toThrow(/monitor: expected a function/);
    expect(() => createSolver(fn, { preset: 'lbfgs', sinks: [{}] as never })).toThrow(/sinks\[0\]/);
    expect(() => createSolver(fn, { preset: 'lbfgs', params: new Float64Array(fn.size).fill(NaN) })).toThrow(/params\[0\] is NaN/);
  });
});

describe('solvers never see each other\'s options', () => {
  let fn: TfjsFunction;
  beforeAll(async () => { fn = await fnFor(); });

  it('a createSolver that throws in validation leaves nothing behind: the next one runs what it asked for', () => {
    const before = db();
    expect(() => createSolver(fn, { preset: 'lbfgs', epochs: 1, log: 5 as never })).toThrow(/log: expected a file path, got 5/);
    expect(db()).toBe(before);
    const s = createSolver(fn, { preset: 'sgd', epochs: 50 });
    try {
      const r = s.solve();
      expect(s.tao.type).toBe('sgd');
      expect(r.summary.iterations).toBe(50);
    } finally {
      s.destroy();
    }
  });

  it('a createSolver that throws after PETSc read its options (a cfg typo) leaves nothing behind either', () => {
    const before = db();
    expect(() => createSolver(fn, { preset: 'tr-gn', cfg: { tao_ntr_ksp_max_itt: 5 } })).toThrow(/tao_ntr_ksp_max_itt' is not used/);
    expect(() => createSolver(fn, { preset: 'ls', cfg: { petscml_forcing: 'xx' } })).toThrow(/petscml_forcing must be 'ew' or 'none'/);
    expect(db()).toBe(before);
  });

  it('two live solvers with the default prefix each run their own preset; the second is warned', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    const a = createSolver(fn, { preset: 'lbfgs', epochs: 30 });
    const b = createSolver(fn, { preset: 'sgd', epochs: 7 });
    try {
      expect(warn).toHaveBeenCalledTimes(1);
      expect(String(warn.mock.calls[0][0])).toMatch(/uses the options prefix '' of a live solver \(L-BFGS\).*sharePrefix/);
      const rb = b.solve();
      expect([b.tao.type, rb.header.taoType, rb.header.solver, rb.summary.iterations]).toEqual(['sgd', 'sgd', 'SGD', 7]);
      const ra = a.solve();
      expect(a.tao.type).toBe('lmvm');
      expect(ra.header.options.tao_lmvm_mat_lmvm_hist_size).toBe('10');
      expect(ra.summary.iterations).toBeGreaterThan(7);
      const c = createSolver(fn, { preset: 'adam', epochs: 2, sharePrefix: true });
      c.destroy();
      expect(warn).toHaveBeenCalledTimes(1); // a and b still share: told once, not at every solver
      b.destroy();
      a.destroy();
      const d = createSolver(fn, { preset: 'adam', epochs: 2 });
      expect(warn).toHaveBeenCalledTimes(1); // nothing else live
      const e = createSolver(fn, { preset: 'adam', epochs: 2 });
      e.destroy();
      d.destroy();
      expect(warn).toHaveBeenCalledTimes(2); // shared again after the prefix was free: news again
      expect(String(warn.mock.calls[1][0])).toMatch(/of a live solver \(Adam\)/);
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it('sharing a prefix on purpose: no warning, and the command line under it reaches both', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    new Options('sh_').set('tao_max_it', 4);
    const a = createSolver(fn, { preset: 'lbfgs', prefix: 'sh_', sharePrefix: true });
    const b = createSolver(fn, { preset: 'sgd', prefix: 'sh_', sharePrefix: true });
    try {
      expect(warn).not.toHaveBeenCalled();
      expect(b.solve().summary.iterations).toBe(4);
      expect(a.solve().summary.iterations).toBeLessThanOrEqual(4);
      expect(a.tao.type).toBe('lmvm');
    } finally {
      a.destroy();
      b.destroy();
      new Options('sh_').delete('tao_max_it');
    }
  });

  it('a solver run inside another\'s callback with the same prefix uses its own options, and the outer one keeps its own', () => {
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    void warn;
    let inner: number | undefined;
    const outer = createSolver(fn, {
      preset: 'lbfgs', epochs: 3, monitor: (r) => {
        if (r.type === 'iteration' && r.iteration === 1 && inner === undefined) {
          const s = createSolver(fn, { preset: 'sgd', epochs: 5 });
          inner = s.solve().summary.iterations;
          s.destroy();
        }
      },
    });
    try {
      const before = db();
      const r = outer.solve();
      expect(inner).toBe(5);
      expect(r.summary.iterations).toBe(3);
      expect(outer.tao.type).toBe('lmvm');
      expect(db()).toBe(before);
    } finally {
      outer.destroy();
    }
  });
});

/** The options of one preset as PETSc's -help reports them in effect, from a child process. */
function helpOf(preset: string, prefix: string): Map<string, string> {
  const fixture = path.resolve(__dirname, '../fixtures/hardening-help.js');
  const r = spawnSync(process.execPath, [fixture, preset, prefix || '-', '-help'], { encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  const m = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const h = /^\s+-([A-Za-z0-9_]+) <(?:now )?([^:<>]*?) :/.exec(line);
    if (h && !m.has(h[1])) m.set(h[1], h[2].trim());
  }
  return m;
}

describe('every option a preset sets is one PETSc reads, with and without a prefix', () => {
  for (const preset of presets) {
    for (const prefix of ['', 'pp_']) {
      it(`${preset}${prefix ? ` with prefix '${prefix}'` : ''}: PETSc reports each preset value in effect (-help)`, () => {
        const help = helpOf(preset, prefix);
        let checked = 0;
        for (const [k, v] of Object.entries(PRESETS[preset].options)) {
          if (k.startsWith('petscml_')) continue; // petscml's own (read by createSolver, not PETSc)
          // The name PETSc reads: prefixed, except lmvm's matrix options (see create.ts).
          const name = help.has(prefix + k) ? prefix + k : k;
          const shown = help.get(name);
          if (shown === undefined) continue; // not listed by -help (flags); createSolver checked it was read
          checked++;
          const same = shown === String(v) || (Number.isFinite(Number(shown)) && Number(shown) === Number(v));
          expect({ option: name, value: shown, same }).toEqual({ option: name, value: shown, same: true });
        }
        expect(checked).toBeGreaterThanOrEqual(4);
        if (preset === 'lbfgs') expect(help.get('tao_lmvm_mat_lmvm_hist_size')).toBe('10');
      });
    }
  }

  it('the L-BFGS history of 10 is in effect with a prefix (was PETSc\'s 5): the same run as without a prefix, not as history 5', async () => {
    const fn = await fnFor();
    const run = (prefix: string, cfg: Record<string, number> = {}) => {
      const s = createSolver(fn, { preset: 'lbfgs', prefix, epochs: 25, cfg });
      try {
        return s.solve().records.map((r) => r.loss);
      } finally {
        s.destroy();
      }
    };
    try {
      const plain = run('');
      expect(run('hist_')).toEqual(plain);
      expect(run('hist5_', { tao_lmvm_mat_lmvm_hist_size: 5 })).not.toEqual(plain);
      expect(run('hist5b_', { tao_lmvm_mat_lmvm_hist_size: 5 })).toEqual(run('', { tao_lmvm_mat_lmvm_hist_size: 5 }));
    } finally {
      fn.dispose();
    }
  });

  it('a preset option PETSc never reads is an error naming it, never silently dropped', async () => {
    const fn = await fnFor();
    const options = PRESETS.lbfgs.options as Record<string, string | number | boolean>;
    options.tao_lmvm_no_such_option = 3;
    const before = db();
    try {
      for (const prefix of ['', 'np_']) {
        expect(() => createSolver(fn, { preset: 'lbfgs', prefix })).toThrow(new RegExp(`preset lbfgs sets -${prefix}tao_lmvm_no_such_option .*never read it.*cannot take effect`));
      }
      expect(db()).toBe(before);
    } finally {
      delete options.tao_lmvm_no_such_option;
      fn.dispose();
    }
  });
});

describe('solve() twice repeats the run from the initial parameters', () => {
  for (const preset of ['lbfgs', 'ls-gn', 'tr-gn', 'adam'] as const) {
    it(`${preset}: the second run equals the first, with and without a log`, async () => {
      const fn = await fnFor(preset === 'adam' ? { batchSize: 4 } : {});
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pml-twice-'));
      try {
        for (const log of [undefined, path.join(dir, 'run.jsonl')]) {
          const s = createSolver(fn, { preset, epochs: 4, log });
          try {
            const a = s.solve();
            const b = s.solve();
            expect(b.records.map((r) => r.loss)).toEqual(a.records.map((r) => r.loss));
            expect(Array.from(b.x)).toEqual(Array.from(a.x));
            expect(b.summary.iterations).toBe(a.summary.iterations);
            if (log) {
              const back = readLog(log); // one run per log: the last one
              expect(back.iterations.map((r) => r.loss)).toEqual(b.records.map((r) => r.loss));
              expect(back.summary!.loss).toBe(b.summary.loss);
            }
          } finally {
            s.destroy();
          }
        }
      } finally {
        fn.dispose();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

describe('nothing leaks over solver lifecycles', () => {
  it('tensor counts are exactly flat for every preset and both Hessian kinds (the Gauss-Newton operator leaked one per solver)', async () => {
    const full = await fnFor();
    const batched = await fnFor({ batchSize: 4 });
    try {
      const runs: [PresetName, 'exact' | 'gauss-newton' | undefined][] = [
        ...presets.map((p) => [p, undefined] as [PresetName, undefined]),
        ['tr', 'gauss-newton'], ['tr-gn', 'exact'], ['ls', 'gauss-newton'], ['ls-gn', 'exact'],
      ];
      for (const [preset, hessian] of runs) {
        const fn = PRESETS[preset].firstOrder ? batched : full;
        const once = () => { const s = createSolver(fn, { preset, hessian, epochs: 2 }); s.solve(); s.destroy(); };
        once();
        const before = tf.memory().numTensors;
        for (let i = 0; i < 5; i++) once();
        expect({ preset, hessian, leaked: tf.memory().numTensors - before }).toEqual({ preset, hessian, leaked: 0 });
      }
    } finally {
      full.dispose();
      batched.dispose();
    }
  });

  it('300 tr-gn lifecycles: tensors exactly flat, no file descriptor left open', async () => {
    const fn = await fnFor();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pml-leak-'));
    try {
      const life = (i: number) => { const s = createSolver(fn, { preset: 'tr-gn', epochs: 1, log: path.join(dir, `r${i % 3}.jsonl`) }); s.solve(); s.destroy(); };
      life(0);
      const tensors = tf.memory().numTensors, fds = openFds();
      for (let i = 1; i <= 300; i++) life(i);
      expect(tf.memory().numTensors).toBe(tensors);
      expect(openFds()).toBe(fds);
    } finally {
      fn.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a solve that throws closes its log (the descriptor stayed open, even after destroy); the solver stays usable', async () => {
    const fn = await fnFor();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pml-throw-'));
    try {
      const fds = openFds();
      let fail = true;
      const s = createSolver(fn, { preset: 'tr-gn', epochs: 3, log: path.join(dir, 'run.jsonl'),
        monitor: (r) => { if (fail && r.type === 'iteration' && r.iteration === 1) throw new Error('monitor failed'); } });
      expect(() => s.solve()).toThrow('monitor failed');
      expect(openFds()).toBe(fds);
      fail = false;
      expect(s.solve().summary.iterations).toBe(3);
      expect(openFds()).toBe(fds);
      s.destroy();
      expect(openFds()).toBe(fds);
      expect(readLog(path.join(dir, 'run.jsonl')).summary!.iterations).toBe(3);
    } finally {
      fn.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
