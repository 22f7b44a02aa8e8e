import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readLog } from '../../src/monitor';

const root = path.resolve(__dirname, '../..');
const cli = path.join(root, 'dist/cli/main.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pml-cli-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, CI: '1', ...env }, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('petscml train', () => {
  it('trains the built-in problem with two solvers: table, logs, summary and figure', () => {
    const out = path.join(dir, 'run');
    const r = run(['train', '--solvers', 'lbfgs,adam', '--epochs', 'lbfgs=4,adam=10', '--train', '64', '--test', '16', '--hidden', '8',
      '--batch-size', '16', '--backend', 'cpu', '--out', out, '-lbfgs_tao_lmvm_mat_lmvm_hist_size', '3', '-adam_tao_adam_lr', '0.01']);
    expect(r.err).not.toMatch(/\n\s+at /);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/MLP 33-8-31 \(551 parameters\), backend cpu/);
    expect(r.out).toMatch(/^L-BFGS\s+4\s+4\s/m);
    expect(r.out).toMatch(/^Adam\s+40\s+10\s/m);
    for (const f of ['lbfgs.jsonl', 'adam.jsonl', 'summary.md', 'figure.svg', 'figure.png']) expect(fs.existsSync(path.join(out, f))).toBe(true);
    const adam = readLog(path.join(out, 'adam.jsonl'));
    expect(adam.header.batchesPerEpoch).toBe(4);
    expect(adam.iterations.length).toBe(41); // iterations 0..40: 10 epochs of 4 mini-batches
    expect(adam.iterations[40].epoch).toBe(10);
    expect(adam.iterations.filter((i) => i.testMetric !== null).map((i) => i.iteration)).toEqual([0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]);
    expect(adam.header.options.tao_adam_lr).toBe('0.01');
    // the training-set loss is recorded once per epoch, and the last one is the summary's
    expect(adam.iterations.filter((i) => i.trainLoss !== null).map((i) => i.iteration)).toEqual([0, 4, 8, 12, 16, 20, 24, 28, 32, 36, 40]);
    expect(adam.iterations[40].trainLoss).toBeCloseTo(adam.summary!.loss, 12);
    const lbfgs = readLog(path.join(out, 'lbfgs.jsonl'));
    // Both start from the same weights; L-BFGS's first record is the full-data loss there.
    expect(adam.summary!.loss).toBeLessThan(lbfgs.iterations[0].loss / 2);
    expect(lbfgs.summary!.loss).toBeLessThan(lbfgs.iterations[0].loss / 2);
    expect(lbfgs.header.options.tao_lmvm_mat_lmvm_hist_size).toBe('3'); // the command line beat the preset's 10
    expect(lbfgs.header.prefix).toBe('lbfgs_');
    expect(fs.readFileSync(path.join(out, 'summary.md'), 'utf8')).toMatch(/^\| solver/m);
  });

  it('--ranks 2 trains data-parallel under mpirun to the same losses as one process', () => {
    const env = { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
    const common = ['train', '--solvers', 'adam,lbfgs,tr-gn', '--epochs', 'adam=3,lbfgs=15,tr-gn=8', '--train', '90', '--test', '20',
      '--hidden', '12', '--batch-size', '30', '--backend', 'cpu', '--no-plot'];
    const one = run([...common, '--out', path.join(dir, 'np1')], env);
    const two = run([...common, '--out', path.join(dir, 'np2'), '--ranks', '2'], env);
    expect(one.code, one.err).toBe(0);
    expect(two.code, two.err).toBe(0);
    expect(two.out).toMatch(/, 2 ranks;/);
    // rank 0 alone prints: one table
    expect(two.out.match(/^solver\s+iters/gm)).toHaveLength(1);
    for (const s of ['adam', 'lbfgs', 'tr-gn']) {
      const a = readLog(path.join(dir, 'np1', `${s}.jsonl`)), b = readLog(path.join(dir, 'np2', `${s}.jsonl`));
      expect(b.header.ranks).toBe(2);
      expect(b.summary!.iterations).toBe(a.summary!.iterations); // a fixed budget of epochs, run in full on both
      // float32 sums over differently split shards: the same loss to 1e-5 relative
      expect(Math.abs(b.summary!.loss - a.summary!.loss) / a.summary!.loss, s).toBeLessThan(1e-5);
    }
  });

  it('--precision float64 --ranks 2: data-parallel in double, the same losses as one process to double rounding', () => {
    const env = { OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' };
    const common = ['train', '--solvers', 'lbfgs,tr-gn', '--epochs', 'lbfgs=10,tr-gn=4', '--train', '90', '--test', '20',
      '--hidden', '12', '--precision', 'float64', '--no-plot'];
    const one = run([...common, '--out', path.join(dir, 'f64np1')], env);
    const two = run([...common, '--out', path.join(dir, 'f64np2'), '--ranks', '2'], env);
    expect(one.code, one.err).toBe(0);
    expect(two.code, two.err).toBe(0);
    for (const s of ['lbfgs', 'tr-gn']) {
      const a = readLog(path.join(dir, 'f64np1', `${s}.jsonl`)), b = readLog(path.join(dir, 'f64np2', `${s}.jsonl`));
      expect(b.header.ranks).toBe(2);
      expect(b.header.precision).toBe('float64');
      expect(b.summary!.iterations).toBe(a.summary!.iterations);
      // Sums over two shards in another order: double rounding, amplified by 10 iterations at most
      // to ~1e-12 (float32 shards differ by ~1e-6 here).
      expect(Math.abs(b.summary!.loss - a.summary!.loss) / a.summary!.loss, s).toBeLessThan(1e-10);
    }
  });

  it('--budget stops every solver at the same oracle cost', () => {
    const out = path.join(dir, 'budget');
    const r = run(['train', '--solvers', 'adam,tr-gn', '--epochs', '1000', '--budget', '60', '--train', '64', '--test', '16', '--hidden', '8',
      '--batch-size', '16', '--backend', 'cpu', '--out', out, '--no-plot']);
    expect(r.code, r.err).toBe(0);
    for (const s of ['adam', 'tr-gn']) {
      const log = readLog(path.join(out, `${s}.jsonl`));
      expect(log.summary!.reason).toBe('ORACLE_BUDGET');
      expect(log.summary!.oracleCalls).toBeGreaterThanOrEqual(60);
      expect(log.iterations[log.iterations.length - 2].oracleCalls).toBeLessThan(60);
    }
  });

  it('--precision float64 trains in double: the same start as float32 to float32 rounding, and says so', () => {
    const common = ['train', '--solvers', 'tr-gn', '--epochs', '3', '--train', '64', '--test', '16', '--hidden', '8', '--no-plot'];
    const a = run([...common, '--out', path.join(dir, 'p32'), '--backend', 'petscml']);
    const b = run([...common, '--out', path.join(dir, 'p64'), '--precision', 'float64']);
    expect(a.code, a.err).toBe(0);
    expect(b.code, b.err).toBe(0);
    expect(b.out).toMatch(/backend petscml-float64 \(float64\)/);
    const l32 = readLog(path.join(dir, 'p32', 'tr-gn.jsonl')), l64 = readLog(path.join(dir, 'p64', 'tr-gn.jsonl'));
    const f32 = l32.iterations[0].loss, f64 = l64.iterations[0].loss;
    expect(Math.abs(f64 - f32) / f64).toBeLessThan(1e-5);
    expect(f64).not.toBe(f32);
    expect(l64.summary!.iterations).toBe(3);
  });

  it('runs a user script with a preset chosen on the command line', () => {
    const script = path.join(root, 'test/fixtures/train-script.js');
    const a = run(['train', script, 'extra']);
    expect(a.code).toBe(0);
    expect(a.out).toMatch(/type ntr preset tr f 0\.00e\+0 args extra/);
    const b = run(['train', script, '--preset', 'lbfgs']);
    expect(b.code).toBe(0);
    expect(b.out).toMatch(/type lmvm preset lbfgs/);
  });

  it('answers bad arguments with one message and exit code 2, never a stack trace', () => {
    const cases: [string[], RegExp][] = [
      [['train', '--solvers', 'tr_gn'], /unknown solver 'tr_gn' in --solvers.*did you mean tr-gn/],
      [['train', '--epochs', '0'], /--epochs must be an integer in \[1, 2147483647\], got '0'/],
      [['train', '--epochs', '3000000000'], /--epochs must be an integer in \[1, 2147483647\], got '3000000000'/],
      [['train', '--epochs', 'adam=5'], /--epochs names 'adam', which is not in --solvers \(lbfgs\)/],
      [['train', '--bogus'], /Unknown option '--bogus'/],
      [['train', 'missing.js'], /script not found: missing.js/],
      [['train', '--backend', 'gpu'], /--backend must be one of tensorflow-gpu, tensorflow, petscml, wasm, cpu, petscml-float64, got 'gpu'/],
      [['train', '--precision', 'half'], /--precision must be float32 or float64, got 'half'/],
      [['train', '--precision', 'float64', '--backend', 'wasm'], /--precision float64 runs on the petscml-float64 backend \(tfjs has no float64\), not on --backend wasm/],
      [['train', '--budget', '0'], /--budget must be an integer in \[1, 2147483647\], got '0'/],
      [['train', '--resume'], /--resume needs --checkpoint DIR/],
      [['train', '--checkpoint-every', '5'], /--checkpoint-every needs --checkpoint DIR/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [[], /Usage: petscml <command>/],
    ];
    for (const [args, message] of cases) {
      const r = run(args.length && args[0] === 'train' && args[1] === '--epochs' && args[2] === 'adam=5' ? [...args, '--solvers', 'lbfgs'] : args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err + r.out).toMatch(message);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });

  it('Ctrl-C writes checkpoints and exits 130; --resume finishes with the logs of a run never stopped', async () => {
    const args = ['train', '--solvers', 'adam,lbfgs', '--epochs', 'adam=150,lbfgs=20', '--train', '128', '--test', '16', '--hidden', '16',
      '--batch-size', '16', '--backend', 'cpu', '--no-plot'];
    const ref = path.join(dir, 'ref'), cut = path.join(dir, 'cut'), ck = path.join(dir, 'cut-ck');
    expect(run([...args, '--out', ref]).code).toBe(0);
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [cli, ...args, '--out', cut, '--checkpoint', ck], { cwd: root, env: { ...process.env, CI: '1' } });
    let out = '';
    const code = await new Promise<number | null>((resolve) => {
      // CI progress lines name the iteration: interrupt Adam in its first half.
      child.stdout.on('data', (d) => {
        out += d;
      });
      let sent = false; // once: a second Ctrl-C ends the process at once
      child.stderr.on('data', (d) => {
        out += d;
        if (!sent && /Adam\s+it\s+(2\d\d|3\d\d)/.test(out)) {
          sent = true;
          child.kill('SIGINT');
        }
      });
      child.on('exit', (c) => resolve(c));
    });
    expect(code).toBe(130);
    expect(out).toMatch(/Adam interrupted by SIGINT; .*run the same command with --resume/);
    expect(readLog(path.join(cut, 'adam.jsonl')).summary?.reason).toBe('INTERRUPTED');
    const r = run([...args, '--out', cut, '--checkpoint', ck, '--resume']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/Adam: resuming from/);
    expect(r.out).toMatch(/L-BFGS: no checkpoint .*, starting it afresh/);
    for (const name of ['adam', 'lbfgs']) {
      const a = readLog(path.join(ref, `${name}.jsonl`)), b = readLog(path.join(cut, `${name}.jsonl`));
      const strip = (l: typeof a) => JSON.stringify([...l.iterations, l.summary].map((x) => ({ ...x, time: 0 })));
      expect(strip(b), name).toBe(strip(a));
    }
  }, 120_000);

  it('prints help and the presets', () => {
    const h = run(['train', '--help']);
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/--solvers LIST/);
    const p = run(['presets']);
    expect(p.code).toBe(0);
    expect(p.out).toMatch(/^tr-gn \(TR-GN\).*\n(\s+-\S+ .*\n)*\s+-tao_ntr_max_radius 10$/m);
  });
});
