// Data-parallel training under mpirun: the same script (test/fixtures/data-parallel.js) on 1, 2
// and 3 ranks must give the same answer, fail together, and end when a rank is killed.
import { execFileSync, spawn } from 'child_process';
import * as path from 'path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bandFor, outsideBand } from './support/invariants';

const fixture = path.resolve(__dirname, 'fixtures/data-parallel.js');
const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };

// Asynchronous, so that the test worker keeps answering vitest while a job runs (a synchronous
// wait of a minute made vitest report its own RPC timeout on top of the failure).
interface Run { status: number | null; signal: NodeJS.Signals | null; error?: Error; stdout: string; stderr: string }
function run(n: number, args: string[], timeout: number): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn('mpirun', ['-n', String(n), process.execPath, fixture, ...args], { env });
    let stdout = '', stderr = '', error: Error | undefined;
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      error = Object.assign(new Error(`mpirun -n ${n} ${args.join(' ')} ran past ${timeout} ms`), { code: 'ETIMEDOUT' });
      child.kill('SIGTERM');
    }, timeout);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, error, stdout, stderr });
    });
  });
}

async function mpirun(n: number, args: string[], timeout = 60_000) {
  const started = Date.now();
  const r = await run(n, args, timeout);
  const lines = r.stdout.split('\n');
  const ranks = lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).sort((a, b) => a.rank - b.rank);
  return { ...r, lines, ranks, seconds: (Date.now() - started) / 1000 };
}

// What a failed run's assertion shows: a hang killed by our timeout reads as exit 1 from mpirun.
function why(r: Awaited<ReturnType<typeof mpirun>>): string {
  const how = r.error ? `killed after ${r.seconds} s (${(r.error as NodeJS.ErrnoException).code})` : `exit ${r.status} after ${r.seconds} s`;
  return `${how}; stderr:\n${r.stderr.slice(-3000)}`;
}

const rel = (a: number, b: number) => Math.abs(a - b) / Math.abs(b);

describe('data-parallel training, the same script on 1, 2 and 3 ranks', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const runs: Record<number, Awaited<ReturnType<typeof mpirun>>> = {};
  beforeAll(async () => {
    for (const n of [1, 2, 3]) runs[n] = await mpirun(n, ['solve']);
  });

  it.each([1, 2, 3])('-n %i: every rank finishes with the same result; only rank 0 prints', (n) => {
    const r = runs[n];
    expect(r.stderr, why(r)).not.toMatch(/error/i);
    expect(r.status, why(r)).toBe(0);
    expect(r.ranks.map((k) => k.rank)).toEqual([...Array(n).keys()]);
    for (const k of r.ranks.slice(1)) {
      for (const key of ['lmvm', 'ntr', 'uneven', 'stats']) expect(k[key]).toEqual(r.ranks[0][key]);
      expect(k.tfjs.lmvm).toEqual(r.ranks[0].tfjs.lmvm);
      expect(k.tfjs.ntr).toEqual(r.ranks[0].tfjs.ntr);
    }
    expect(r.lines.filter((l) => l === 'printed once')).toHaveLength(1);
  });

  // The objective and the gradient are sums over the ranks' shards (allreduce, reduce-scatter), so
  // each rank count adds the same terms in another grouping: the solution and the stop reason are
  // invariant, the counts are compared within the bands of test/support/invariants.ts.
  it('a plain double-precision function: the same solution, counts within the stated bands (lmvm, ntr with exact Hv)', () => {
    const one = runs[1].ranks[0];
    const misses: string[] = [];
    for (const type of ['lmvm', 'ntr']) {
      expect(one[type].reason).toBe('CONVERGED_GATOL');
      for (const n of [2, 3]) {
        const k = runs[n].ranks[0];
        expect(k[type].reason).toBe('CONVERGED_GATOL');
        const { iterations, objective, gradient, objectiveAndGradient, hessian, hessianMult } = k[type].counts;
        const ref = one[type].counts;
        misses.push(...outsideBand(`-n ${n} ${type}`, { iterations, objective, gradient, objectiveAndGradient, hessian, hessianMult },
          { iterations: ref.iterations, objective: ref.objective, gradient: ref.gradient, objectiveAndGradient: ref.objectiveAndGradient, hessian: ref.hessian, hessianMult: ref.hessianMult }, bandFor(type)));
        // f is ~1e-17 at the solution: compare it against the initial objective's scale
        expect(Math.abs(k[type].f - one[type].f)).toBeLessThan(1e-12 * one.uneven);
        for (let i = 0; i < 20; i++) expect(Math.abs(k[type].x[i] - one[type].x[i])).toBeLessThan(1e-9);
      }
    }
    expect(misses).toEqual([]);
  });

  it('the native layer issues one gather per evaluation and one reduce-scatter per vector result (none on one rank)', () => {
    expect(runs[1].ranks[0].stats).toEqual({ gathers: 0, gatheredDoubles: 0, reductions: 0, reducedDoubles: 0, scalarReductions: 0 });
    for (const n of [2, 3]) {
      const { lmvm, ntr, stats } = runs[n].ranks[0];
      const c1 = lmvm.counts, c2 = ntr.counts;
      const evaluations = c1.objectiveAndGradient + c2.objective + c2.gradient + c2.objectiveAndGradient + c2.hessian + c2.hessianMult;
      const vectors = c1.objectiveAndGradient + c2.gradient + c2.objectiveAndGradient + c2.hessianMult;
      expect(stats).toEqual({ gathers: evaluations, gatheredDoubles: 20 * evaluations, reductions: vectors, reducedDoubles: 20 * vectors, scalarReductions: evaluations });
    }
  });

  it('uneven shards (7 samples on 3 ranks: 3, 2, 2) give the objective of one process', () => {
    const one = runs[1].ranks[0];
    const three = runs[3].ranks;
    expect(three.map((k) => k.tfjs.samples)).toEqual([3, 2, 2]);
    expect(rel(three[0].uneven, one.uneven)).toBeLessThan(1e-15);
    // tfjs: each shard's mean is a float32 sum, weighted in float64
    expect(rel(three[0].tfjs.uneven, one.tfjs.uneven)).toBeLessThan(1e-6);
    expect(rel(runs[2].ranks[0].tfjs.uneven, one.tfjs.uneven)).toBeLessThan(1e-6);
  });

  it('a tfjs MLP: the same loss within 1e-5 after a fixed budget (lmvm 5 iterations, ntr + Gauss-Newton 2)', () => {
    const one = runs[1].ranks[0].tfjs;
    expect(one.lmvm.f / one.f0).toBeLessThan(0.4);
    expect(one.ntr.f / one.f0).toBeLessThan(0.3);
    for (const n of [2, 3]) {
      const k = runs[n].ranks[0].tfjs;
      expect(rel(k.f0, one.f0)).toBeLessThan(1e-6);
      // a fixed budget: every rank count runs all of it
      expect([k.lmvm.iterations, one.lmvm.iterations]).toEqual([5, 5]);
      expect(rel(k.lmvm.f, one.lmvm.f)).toBeLessThan(1e-5);
      expect([k.ntr.iterations, one.ntr.iterations]).toEqual([2, 2]);
      expect(rel(k.ntr.f, one.ntr.f)).toBeLessThan(1e-5);
    }
  });
});

describe.each([1, 2, 3])('data-parallel failures under mpirun -n %i', (n) => {
  it('an exception on one rank makes every rank’s solve throw, in f+g, g and Hv; the ranks stay in step', async () => {
    const r = await mpirun(n, ['error']);
    expect(r.status, why(r)).toBe(0);
    expect(r.ranks).toHaveLength(n);
    for (const k of r.ranks) {
      for (const where of ['objectiveAndGradient', 'gradient', 'mult']) {
        expect(k[where].threw).toBe(true);
        if (k.rank === n - 1) expect(k[where].identity).toBe(true);
        else expect(k[where].message).toContain(`a JavaScript callback failed on rank ${n - 1}`);
      }
      expect(k.after).toBe('CONVERGED_GATOL');
    }
  });
});

// Each rank's garbage collector runs when it likes. Distributed objects dropped without destroy()
// used to be destroyed at once on the rank that collected them: the ranks' PETSc communicators
// went out of step and the job hung at the next object's creation. They are now destroyed when
// every rank has dropped them, at the next collective call.
describe.each([2, 3])('distributed objects collected at different times on each rank, -n %i', (n) => {
  it('every rank finishes 300 dropped ntr lifecycles and 60 dropped solvers; the C heap stays bounded', async () => {
    const r = await mpirun(n, ['gc-skew', '300']);
    expect(r.status, why(r)).toBe(0);
    expect(r.ranks.map((k) => k.rank)).toEqual([...Array(n).keys()]);
    // Nothing freed: 12 MB on each rank (measured); freed: 0.2-0.6 MB of allocator slack.
    for (const k of r.ranks) expect(k.heapGrowth).toBeLessThan(3e6);
    // then 60 createSolver runs dropped without destroy(), collected at other times again
    for (const k of r.ranks) expect(k.solvers).toBe(60);
  });
});

describe('a rank killed by SIGKILL', () => {
  it.each([2, 3])('-n %i: mpirun ends the job within seconds and leaves no process behind', async (n) => {
    const token = `petscml-kill-${process.pid}-${n}-${Date.now()}`;
    const r = await mpirun(n, ['kill', token], 30_000);
    expect(r.error).toBeUndefined(); // not ended by our timeout
    expect(r.status).not.toBe(0);
    expect(r.seconds).toBeLessThan(15);
    expect(r.stderr).toMatch(/signal 9/);
    let left = '';
    try {
      left = execFileSync('pgrep', ['-f', token], { encoding: 'utf8' });
    } catch {
      left = ''; // pgrep exits 1 when nothing matches
    }
    expect(left.trim()).toBe('');
  });
});
