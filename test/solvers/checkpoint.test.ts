// Issue 15: checkpoints, resume, interrupts and AbortSignal. A run killed (SIGKILL) or interrupted
// at a random iteration and resumed writes the same records as the run that was never stopped:
// bit for bit (every field but the wall-clock time), for first-order, lmvm and trust-region types.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSolver, createTfjsFunction, initBackend, type RunRecord, type SolverOptions } from '../../src';
import { readCheckpoint } from '../../src/solvers/checkpoint';
import { defaultLmvmPoints } from '../../src/solvers/create';

const fixture = path.resolve(__dirname, '../fixtures/checkpoint.js');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'pml-ckpt-'));
const readLog = (f: string) => fs.readFileSync(f, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RunRecord & Record<string, unknown>);
const FIELDS = ['iteration', 'epoch', 'loss', 'trainLoss', 'gradNorm', 'testMetric', 'oracleCalls', 'trustRadius', 'stepLength',
  'iterations', 'epochs', 'minLoss', 'minTestMetric', 'reason', 'converged'];

/** Differences between two logs in everything but times and headers (empty: the same run). */
function logDiff(a: ReturnType<typeof readLog>, b: ReturnType<typeof readLog>): string[] {
  const out: string[] = [];
  if (a.length !== b.length) out.push(`${a.length} records vs ${b.length}`);
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i].type !== b[i].type) out.push(`record ${i}: ${a[i].type} vs ${b[i].type}`);
    if (a[i].type === 'header') continue;
    for (const k of FIELDS) if (!Object.is(a[i][k], b[i][k])) out.push(`record ${i} ${k}: ${String(a[i][k])} vs ${String(b[i][k])}`);
    if (JSON.stringify(a[i].counts) !== JSON.stringify(b[i].counts)) out.push(`record ${i} counts`);
  }
  return out;
}

function runFixture(preset: string, dir: string, flags: string[] = []) {
  const r = spawnSync(process.execPath, [fixture, preset, dir, ...flags], { encoding: 'utf8', timeout: 60_000 });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  return { status: r.status, lines, stderr: r.stderr, last: lines[lines.length - 1] ?? {} };
}

/** Starts the fixture and sends `signal` once it printed iteration `at`; resolves at its exit. */
function killAt(preset: string, dir: string, at: number, signal: NodeJS.Signals, flags: string[]) {
  return new Promise<{ code: number | null; signal: NodeJS.Signals | null; lines: Record<string, unknown>[] }>((resolve) => {
    const child = spawn(process.execPath, [fixture, preset, dir, ...flags], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    child.stdout.on('data', (d) => {
      out += d;
      if (!sent && out.split('\n').some((l) => l.startsWith('{"k":') && JSON.parse(l).k >= at)) {
        sent = true;
        child.kill(signal);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code, sig) => {
      clearTimeout(timer);
      resolve({ code, signal: sig, lines: out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)) });
    });
  });
}

// A fixed sequence, so a failure can be rerun; where in its iteration the kill lands is up to the OS.
let seed = 12345;
const randomIn = (lo: number, hi: number) => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return lo + (seed % (hi - lo + 1));
};

describe('SIGKILL at a random iteration, then resume', () => {
  for (const [preset, last] of [['adam', 119], ['lbfgs', 25], ['tr-gn', 25]] as const) {
    it(`${preset}: the resumed run's log equals the uninterrupted run's (3 random kill points)`, async () => {
      const ref = tmp();
      expect(runFixture(preset, ref).last.done).toBeDefined();
      const reference = readLog(path.join(ref, 'log.jsonl'));
      for (let i = 0; i < 3; i++) {
        const dir = tmp();
        const at = randomIn(2, last - 2);
        const killed = await killAt(preset, dir, at, 'SIGKILL', ['--checkpoint', '--slow', '2']);
        expect(killed.signal).toBe('SIGKILL');
        const ck = readCheckpoint(path.join(dir, 'ck'));
        expect(ck.progress.iteration).toBeGreaterThanOrEqual(at - 1); // every iteration is checkpointed
        const resumed = runFixture(preset, dir, ['--resume']);
        expect(resumed.last.done, JSON.stringify(resumed.last)).toBeDefined();
        expect(resumed.lines[0].k).toBe(ck.progress.iteration); // it recomputes the checkpoint's iteration first
        expect(logDiff(reference, readLog(path.join(dir, 'log.jsonl'))), `killed at ${at}`).toEqual([]);
      }
    }, 180_000);
  }
});

describe('SIGINT', () => {
  it('with a user handler: stops within one iteration, writes a checkpoint and an INTERRUPTED summary; --resume finishes the same run', async () => {
    const ref = tmp();
    runFixture('lbfgs', ref);
    const dir = tmp();
    const r = await killAt('lbfgs', dir, 6, 'SIGINT', ['--checkpoint', '--sigint-handler', '--slow', '30']);
    const last = r.lines[r.lines.length - 1] as { name?: string; error?: string };
    expect(last.name).toBe('InterruptedError');
    const ks = r.lines.filter((l) => 'k' in l).map((l) => l.k as number);
    expect(Math.max(...ks)).toBeLessThanOrEqual(7); // the signal came at iteration 6
    const log = readLog(path.join(dir, 'log.jsonl'));
    const summary = log[log.length - 1] as Record<string, unknown>;
    expect(summary.type).toBe('summary');
    expect(summary.reason).toBe('INTERRUPTED');
    expect(String(summary.explanation)).toMatch(/interrupted by SIGINT after iteration \d+/);
    expect(String(summary.hint)).toMatch(/resume/);
    const ck = readCheckpoint(path.join(dir, 'ck'));
    expect(ck.progress.iteration).toBe(Math.max(...ks));
    expect(runFixture('lbfgs', dir, ['--resume']).last.done).toBeDefined();
    expect(logDiff(readLog(path.join(ref, 'log.jsonl')), readLog(path.join(dir, 'log.jsonl')))).toEqual([]);
  }, 120_000);
});

describe('in process', () => {
  let make: () => Promise<Awaited<ReturnType<typeof createTfjsFunction>>>;
  beforeAll(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
    make = async () => {
      const model = tf.sequential({ layers: [
        tf.layers.dense({ inputShape: [2], units: 8, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 3 }) }),
        tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotNormal({ seed: 4 }) }),
      ] });
      const x = Float32Array.from({ length: 64 }, (_, i) => Math.cos(0.3 * i));
      const y = Float32Array.from({ length: 32 }, (_, i) => Math.sin(0.2 * i));
      return createTfjsFunction({ model, data: { x: { values: x, shape: [32, 2] }, y: { values: y, shape: [32, 1] } }, quiet: true });
    };
  });

  /** An uninterrupted run, one aborted at `stopAt` with checkpoints, and its resumption: their logs. */
  async function abortAndResume(opts: SolverOptions, stopAt: number, lmvmPoints?: number) {
    const dir = tmp();
    createSolver(await make(), { ...opts, log: path.join(dir, 'a.jsonl'), sharePrefix: true }).solve();
    const ac = new AbortController();
    const b = createSolver(await make(), {
      ...opts, log: path.join(dir, 'b.jsonl'), sharePrefix: true, checkpoint: { path: path.join(dir, 'ck'), every: 3, ...(lmvmPoints ? { lmvmPoints } : {}) },
      signal: ac.signal, monitor: (r) => r.type === 'iteration' && r.iteration === stopAt && ac.abort(),
    }).solve();
    const c = createSolver(await make(), { ...opts, log: path.join(dir, 'b.jsonl'), sharePrefix: true, resume: path.join(dir, 'ck') }).solve();
    return { dir, b, c, a: readLog(path.join(dir, 'a.jsonl')), resumed: readLog(path.join(dir, 'b.jsonl')) };
  }

  it.each([['sgd', undefined], ['adamw', undefined], ['ls-gn', undefined], ['tr', undefined], ['tr-gn', 6]] as const)(
    '%s: aborted, then resumed: the same records and summary', async (preset, lmvmPoints) => {
      const { b, c, a, resumed } = await abortAndResume({ preset, epochs: 12 }, 7, lmvmPoints);
      expect(b.summary.reason).toBe('ABORTED');
      expect(b.summary.converged).toBe(false);
      expect(b.summary.iterations).toBe(7);
      // At a trial step ntr rejected, the state kept is the last completed iteration's.
      const at = c.header.resumed!.iteration;
      expect(preset === 'tr' ? [6, 7] : [7]).toContain(at);
      expect(c.records[0].iteration).toBe(at);
      if (lmvmPoints === undefined) expect(logDiff(a, resumed)).toEqual([]);
      else {
        // Fewer points than the matrix has seen: the same pairs, another diagonal scaling. The
        // resumed run starts at the same point and then goes its own way (README, long runs).
        const at = a.filter((r) => r.type === 'iteration' && r.iteration === c.records[0].iteration).pop();
        expect(c.records[0].loss).toBe(at?.loss); // the same parameters
        expect(logDiff(a, resumed).length).toBeGreaterThan(0); // 7 points seen, 6 kept
      }
    });

  it('keeps every L-BFGS point by default up to 64 MiB, never fewer than the history + 1', () => {
    expect(defaultLmvmPoints(10, 33)).toBe(1000);
    expect(defaultLmvmPoints(10, 98_880)).toBe(42);
    expect(defaultLmvmPoints(5, 10_000_000)).toBe(6);
  });

  it('a resumed run may be given more epochs: it goes on where the first one ended', async () => {
    const dir = tmp();
    const long = createSolver(await make(), { preset: 'lbfgs', epochs: 14, log: path.join(dir, 'long.jsonl'), sharePrefix: true }).solve();
    createSolver(await make(), { preset: 'lbfgs', epochs: 6, log: path.join(dir, 'x.jsonl'), sharePrefix: true, checkpoint: { path: path.join(dir, 'ck') } }).solve();
    const more = createSolver(await make(), { preset: 'lbfgs', epochs: 14, log: path.join(dir, 'x.jsonl'), sharePrefix: true, resume: path.join(dir, 'ck') }).solve();
    expect(more.summary.iterations).toBe(14);
    expect(more.summary.loss).toBe(long.summary.loss);
    expect(logDiff(readLog(path.join(dir, 'long.jsonl')), readLog(path.join(dir, 'x.jsonl')))).toEqual([]);
  });

  it('refuses a corrupt, truncated, foreign or missing checkpoint, naming the problem', async () => {
    const dir = tmp();
    const ck = path.join(dir, 'ck');
    createSolver(await make(), { preset: 'adam', epochs: 2, checkpoint: { path: ck }, sharePrefix: true }).solve();
    const fn = await make();
    const resume = (file: string, o: SolverOptions = {}) => () => createSolver(fn, { preset: 'adam', epochs: 2, sharePrefix: true, resume: file, ...o });
    expect(resume(ck)).not.toThrow();
    const bytes = fs.readFileSync(ck);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 3] ^= 0xff;
    fs.writeFileSync(path.join(dir, 'flipped'), flipped);
    expect(resume(path.join(dir, 'flipped'))).toThrow(/do not match their checksum \(the file is corrupt\)/);
    fs.writeFileSync(path.join(dir, 'short'), bytes.subarray(0, bytes.length - 100));
    expect(resume(path.join(dir, 'short'))).toThrow(/truncated/);
    fs.writeFileSync(path.join(dir, 'other'), 'hello\n');
    expect(resume(path.join(dir, 'other'))).toThrow(/not a usable petscml checkpoint: it does not start with the checkpoint header/);
    expect(resume(path.join(dir, 'nothing'))).toThrow(/cannot read the checkpoint .*nothing/);
    // Another preset, other options, another rank count (the description is JSON: edited here).
    expect(() => createSolver(fn, { preset: 'sgd', epochs: 2, sharePrefix: true, resume: ck })).toThrow(/another run \(preset: 'adam' in the checkpoint, 'sgd' now/);
    expect(() => createSolver(fn, { preset: 'adam', epochs: 2, sharePrefix: true, resume: ck, cfg: { tao_adam_lr: 0.01 } }))
      .toThrow(/option tao_adam_lr: none in the checkpoint, '0.01' now/);
    const text = bytes.toString('latin1').replace('"ranks":1', '"ranks":2').replace(/"parameters":\d+/, '"parameters":99');
    fs.writeFileSync(path.join(dir, 'edited'), Buffer.from(text, 'latin1'));
    expect(resume(path.join(dir, 'edited'))).toThrow(/parameter count: 99 in the checkpoint, 33 now; .*MPI ranks: 2 in the checkpoint, 1 now/);
    const v2 = bytes.toString('latin1').replace('PETSCML-CHECKPOINT 1', 'PETSCML-CHECKPOINT 7');
    fs.writeFileSync(path.join(dir, 'v7'), Buffer.from(v2, 'latin1'));
    expect(resume(path.join(dir, 'v7'))).toThrow(/format version 7; this petscml reads version 1/);
    // A description edited into nonsense fails by name before any solve.
    const edit = (from: RegExp, to: string, name: string) => {
      fs.writeFileSync(path.join(dir, name), Buffer.from(bytes.toString('latin1').replace(from, to), 'latin1'));
      return path.join(dir, name);
    };
    expect(resume(edit(/"iteration":\d+/, '"iteration":-3', 'neg'))).toThrow(/progress.iteration is -3, not a count/);
    expect(resume(edit(/"power1":[^,]+/, '"power1":7', 'pow'))).toThrow(/state.firstOrder.power1 is 7, not in \[0, 1\]/);
    expect(resume(edit(/"m":\{/, '"mm":{', 'nom'))).toThrow(/it has no array 'm'/);
    // Bad options.
    expect(() => createSolver(fn, { checkpoint: { path: '' } })).toThrow(/checkpoint.path/);
    expect(() => createSolver(fn, { checkpoint: { path: ck, every: 0 } })).toThrow(/checkpoint.every/);
    expect(() => createSolver(fn, { checkpoint: { path: ck, evry: 2 } as never })).toThrow(/unknown option 'evry' \(did you mean every/);
    expect(() => createSolver(fn, { signal: {} as never })).toThrow(/signal/);
  });

  it('writes atomically: no temporary file is left, and an unwritable path is an error naming it', async () => {
    const dir = tmp();
    createSolver(await make(), { preset: 'lbfgs', epochs: 4, checkpoint: { path: path.join(dir, 'ck'), every: 1 }, sharePrefix: true }).solve();
    expect(fs.readdirSync(dir)).toEqual(['ck']);
    fs.writeFileSync(path.join(dir, 'file'), 'x');
    const s = createSolver(await make(), { preset: 'lbfgs', epochs: 4, checkpoint: { path: path.join(dir, 'file', 'ck') }, sharePrefix: true });
    expect(() => s.solve()).toThrow(/cannot write the checkpoint .*file\/ck/);
    s.destroy();
  });
});

describe('under mpirun -n 2', () => {
  // Without what Open MPI's singleton start put into this process's environment (PETSc runs here
  // too), which would make a child mpirun take itself for part of this job.
  const own = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(OMPI_|PMIX_|OPAL_|ORTE_)/.test(k)));
  const env = { ...own, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };
  const mpi = (preset: string, dir: string, flags: string[] = []) => {
    const r = spawnSync('mpirun', ['-n', '2', process.execPath, fixture, preset, dir, ...flags], { encoding: 'utf8', env, timeout: 90_000 });
    return { status: r.status, error: r.error, lines: r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)) };
  };
  it('SIGINT to one rank only: the job ends (no hang), the log says INTERRUPTED, and resume finishes the same run', async () => {
    const ref = tmp();
    expect(mpi('lbfgs', ref).status).toBe(0);
    const dir = tmp();
    const child = spawn('mpirun', ['-n', '2', process.execPath, fixture, 'lbfgs', dir, '--checkpoint', '--slow', '30'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let sent = false;
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
      child.stdout.on('data', (d) => {
        out += d;
        const line = out.split('\n').find((l) => l.startsWith('{"k":5,'));
        if (!sent && line) {
          sent = true;
          process.kill(JSON.parse(line).pid, 'SIGINT'); // rank 0's process, not mpirun
        }
      });
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code).not.toBeNull(); // not killed by the timeout
    const log = readLog(path.join(dir, 'log.jsonl'));
    expect((log[log.length - 1] as Record<string, unknown>).reason).toBe('INTERRUPTED');
    expect(readCheckpoint(path.join(dir, 'ck')).progress.iteration).toBeGreaterThanOrEqual(5);
    expect(mpi('lbfgs', dir, ['--resume']).status).toBe(0);
    expect(logDiff(readLog(path.join(ref, 'log.jsonl')), readLog(path.join(dir, 'log.jsonl')))).toEqual([]);
  }, 180_000);

  it.each(['adam', 'lbfgs'])('%s: aborted on every rank at the same iteration, then resumed: the same records as the uninterrupted 2-rank run', (preset) => {
    const ref = tmp();
    expect(mpi(preset, ref).status).toBe(0);
    const dir = tmp();
    const stopped = mpi(preset, dir, ['--checkpoint', '--stop-at', '9']);
    expect(stopped.error).toBeUndefined();
    expect(stopped.lines[stopped.lines.length - 1].done.reason).toBe('ABORTED');
    const resumed = mpi(preset, dir, ['--resume']);
    expect(resumed.status).toBe(0);
    expect(readCheckpoint(path.join(dir, 'ck')).identity.ranks).toBe(2);
    expect(logDiff(readLog(path.join(ref, 'log.jsonl')), readLog(path.join(dir, 'log.jsonl')))).toEqual([]);
  }, 120_000);
});
