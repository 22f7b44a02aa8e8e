// Issue 15: solveAsync() keeps the event loop free (TaoSolve on its own thread, callbacks
// marshalled to the JavaScript thread) and gives the same run as solve().
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSolver, createTfjsFunction, initBackend, InterruptedError, Tao, Vec, type ObjectiveFunction } from '../../src';
import { readCheckpoint } from '../../src/solvers/checkpoint';

const fixture = path.resolve(__dirname, '../fixtures/checkpoint.js');
const root = path.resolve(__dirname, '../..');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'pml-async-'));
const spin = (ms: number) => {
  const end = performance.now() + ms;
  while (performance.now() < end);
};

/** A quadratic whose every evaluation takes `ms` of JavaScript time. */
function slowQuadratic(n: number, ms: number): ObjectiveFunction {
  const og = (x: Float64Array, g: Float64Array) => {
    spin(ms);
    let f = 0;
    for (let i = 0; i < n; i++) {
      const d = x[i] - 1;
      f += (i + 1) * d * d + d ** 4;
      g[i] = 2 * (i + 1) * d + 4 * d ** 3;
    }
    return f;
  };
  return { size: n, objectiveAndGradient: og, objective: (x) => og(x, new Float64Array(n)), gradient: (x, g) => void og(x, g) };
}

describe('solveAsync', () => {
  let make: () => Promise<Awaited<ReturnType<typeof createTfjsFunction>>>;
  beforeAll(async () => {
    await initBackend({ backend: 'cpu', quiet: true });
    make = async () => {
      const model = tf.sequential({ layers: [
        tf.layers.dense({ inputShape: [3], units: 10, activation: 'tanh', kernelInitializer: tf.initializers.glorotNormal({ seed: 5 }) }),
        tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.glorotNormal({ seed: 6 }) }),
      ] });
      const x = Float32Array.from({ length: 3 * 40 }, (_, i) => Math.sin(0.7 * i));
      const y = Float32Array.from({ length: 2 * 40 }, (_, i) => Math.cos(0.3 * i));
      return createTfjsFunction({ model, data: { x: { values: x, shape: [40, 3] }, y: { values: y, shape: [40, 2] } }, quiet: true });
    };
  });

  it.each(['tr-gn', 'lbfgs', 'ls', 'adam'])('%s: the same records and result as solve()', async (preset) => {
    const a = createSolver(await make(), { preset, epochs: 8, sharePrefix: true }).solve();
    const b = await createSolver(await make(), { preset, epochs: 8, sharePrefix: true }).solveAsync();
    expect(Array.from(b.x)).toEqual(Array.from(a.x));
    const strip = (r: object) => JSON.stringify({ ...r, time: 0 });
    expect(b.records.map(strip)).toEqual(a.records.map(strip));
    expect(strip(b.summary)).toBe(strip(a.summary));
  });

  it('a setInterval keeps firing during a 2-second solve, and PETSc calls outside its callbacks are refused', async () => {
    // adam never converges on its own here: the monitor ends the run after 2 s.
    const tao = new Tao({ type: 'adam' });
    const fn = slowQuadratic(50, 10);
    const x = Vec.create(50);
    tao.setSolution(x).setObjectiveAndGradient((y, g) => fn.objectiveAndGradient(y, g));
    tao.setTolerances({ gatol: 0, grtol: 0, gttol: 0 });
    tao.maxIterations = 1e6;
    let insideOk = false;
    tao.setMonitor((s) => {
      insideOk = Vec.create(2).size === 2; // inside a callback PETSc is ours
      if (performance.now() - t0 > 2000) tao.stop();
      void s;
    });
    let ticks = 0;
    let refused = '';
    const timer = setInterval(() => {
      ticks++;
      if (!refused) {
        try {
          Vec.create(3);
        } catch (e) {
          refused = (e as Error).message;
        }
      }
    }, 10);
    const t0 = performance.now();
    const r = await tao.solveAsync().finally(() => clearInterval(timer));
    expect(performance.now() - t0).toBeGreaterThan(2000);
    expect(ticks).toBeGreaterThanOrEqual(10);
    expect(r.reasonName).toBe('CONVERGED_USER');
    expect(insideOk).toBe(true);
    expect(refused).toMatch(/a solveAsync\(\) is running; PETSc can be used from JavaScript only inside its callbacks/);
    expect(Vec.create(3).size).toBe(3);
    tao.destroy();
    x.destroy();
  }, 30_000);

  it('rejects with the callback\'s own error; one solve at a time; the next solve works', async () => {
    const bad: ObjectiveFunction = { size: 3, objectiveAndGradient: () => { throw new Error('model exploded'); }, objective: () => 0, gradient: () => {} };
    await expect(createSolver(bad, { preset: 'lbfgs', params: [1, 2, 3], sharePrefix: true }).solveAsync()).rejects.toThrow('model exploded');
    const s1 = createSolver(slowQuadratic(5, 1), { preset: 'lbfgs', params: new Float64Array(5), epochs: 20, sharePrefix: true });
    const s2 = createSolver(slowQuadratic(5, 1), { preset: 'lbfgs', params: new Float64Array(5), epochs: 20, sharePrefix: true });
    const p1 = s1.solveAsync();
    await expect(s2.solveAsync()).rejects.toThrow(/another solveAsync\(\) is running|a solveAsync\(\) is running/);
    expect(() => s1.destroy()).toThrow(/cannot destroy this solver while its solveAsync\(\) runs/);
    expect((await p1).summary.iterations).toBeGreaterThan(0);
    expect(s2.solve().summary.iterations).toBeGreaterThan(0);
    s1.destroy();
    s2.destroy();
  });

  it('an AbortSignal fired from a timer stops it at an iteration boundary, with a checkpoint', async () => {
    const dir = tmp();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const s = createSolver(slowQuadratic(20, 5), {
      preset: 'lbfgs', params: new Float64Array(20), epochs: 100000, signal: ac.signal, checkpoint: { path: path.join(dir, 'ck'), every: 1000 }, sharePrefix: true,
      cfg: { tao_gatol: 0, tao_grtol: 0 },
    });
    const r = await s.solveAsync();
    expect(r.summary.reason).toBe('ABORTED');
    expect(r.summary.explanation).toMatch(/stopped by its AbortSignal after iteration \d+/);
    expect(readCheckpoint(path.join(dir, 'ck')).progress.iteration).toBe(r.summary.iterations);
    s.destroy();
  });

  it('SIGINT during solveAsync rejects with InterruptedError and leaves a checkpoint', async () => {
    const dir = tmp();
    const child = spawn(process.execPath, [fixture, 'lbfgs', dir, '--async', '--checkpoint', '--slow', '30', '--sigint-handler'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (/"k":4/.test(out)) child.kill('SIGINT');
      });
      child.on('exit', () => resolve());
    });
    const last = JSON.parse(out.trim().split('\n').pop()!);
    expect(last.name).toBe(InterruptedError.name);
    expect(readCheckpoint(path.join(dir, 'ck')).progress.iteration).toBeGreaterThanOrEqual(4);
  }, 60_000);

  it('process.exit() while a solveAsync runs ends the process cleanly', () => {
    const script = "const p=require('./dist');const t=new p.Tao({type:'lmvm'});const x=p.Vec.create(4);" +
      "t.setSolution(x).setObjectiveAndGradient((y,g)=>{const e=Date.now()+2;while(Date.now()<e);let f=0;for(let i=0;i<4;i++){f+=(y[i]-1)**2;g[i]=2*(y[i]-1)}return f});" +
      "t.setTolerances({gatol:0,grtol:0,gttol:0});t.maxIterations=1e6;t.solveAsync();setTimeout(()=>{console.log('exiting');process.exit(0)},200)";
    const r = spawnSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(r.error).toBeUndefined();
    expect(r.stdout.trim()).toBe('exiting');
    expect(r.status).toBe(0);
  });

  it('under mpirun -n 2: the timer ticks and the records equal solve()\'s', () => {
    // Without the variables Open MPI's singleton start put into this process (PETSc runs here
    // too): with them, a child mpirun takes itself for part of this job and exits at once.
    const own = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(OMPI_|PMIX_|OPAL_|ORTE_)/.test(k)));
    const env = { ...own, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };
    const run = (dir: string, flags: string[]) => {
      const r = spawnSync('mpirun', ['-n', '2', process.execPath, fixture, 'tr-gn', dir, ...flags], { encoding: 'utf8', env, timeout: 90_000 });
      expect(r.error).toBeUndefined();
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout.trim().split('\n').pop()!);
    };
    const a = tmp(), b = tmp();
    run(a, []);
    const last = run(b, ['--async', '--slow', '20']);
    expect(last.ticks).toBeGreaterThanOrEqual(10);
    const strip = (f: string) => fs.readFileSync(f, 'utf8').split('\n').filter((l) => !l.includes('"header"')).map((l) => l.replace(/"time":[^,}]*/, ''));
    expect(strip(path.join(b, 'log.jsonl'))).toEqual(strip(path.join(a, 'log.jsonl')));
  }, 120_000);
});
