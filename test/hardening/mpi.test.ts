// Issue 10 under MPI: ranks that disagree, are interrupted, or leave early end every rank with a
// clear error or end the job; nothing hangs (mpirun runs under a timeout, a hang fails the test).
import { spawnSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

const fixture = path.resolve(__dirname, '../fixtures/hardening-mpi.js');
const baseEnv = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };

function mpirun(n: number, mode: string, opts: { timeout?: number; env?: Record<string, string> } = {}) {
  const started = Date.now();
  const r = spawnSync('mpirun', ['-n', String(n), process.execPath, fixture, mode], {
    encoding: 'utf8', env: { ...baseEnv, ...opts.env }, timeout: opts.timeout ?? 60_000,
  });
  const ranks = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).sort((a, b) => a.rank - b.rank);
  return { ...r, ranks, seconds: (Date.now() - started) / 1000 };
}

/** mpirun that must end by itself (no hang), exit 0 and hear from every rank. */
function ranCleanly(n: number, mode: string) {
  const r = mpirun(n, mode);
  expect(r.error, 'killed by the timeout: a hang').toBeUndefined();
  expect(r.status, r.stderr).toBe(0);
  expect(r.ranks).toHaveLength(n);
  return r;
}

describe('ranks that disagree on sizes fail together, with both sizes named', () => {
  it('Vec on world', () => {
    const r = ranCleanly(2, 'vec-sizes');
    for (const k of r.ranks) {
      for (const c of [k.fromArray, k.create]) {
        expect(c.threw).toBe(true);
        expect(c.message).toContain('ranks disagree on the vector size: rank 0 has 6, rank 1 has 8');
      }
      expect(k.uneven).toEqual({ threw: false });
      expect(k.overflow.threw).toBe(true);
      expect(k.overflow.message).toMatch(/local sizes add up to 4294967294.*2147483647/);
      expect(k.after).toBe('CONVERGED_GATOL');
    }
  });

  it('ShellMat on world', () => {
    const r = mpirun(2, 'mat-sizes');
    expect(r.status).toBe(0);
    for (const k of r.ranks) {
      expect(k.square.message).toContain('ranks disagree on the number of rows: rank 0 has 6, rank 1 has 8');
      expect(k.cols.message).toContain('ranks disagree on the number of columns: rank 0 has 6, rank 1 has 8');
      expect(k.after).toBe('CONVERGED_GATOL');
    }
  });

  it('createSolver with a function whose size differs by rank (13 vs 21)', () => {
    const r = ranCleanly(2, 'create-solver-sizes');
    for (const k of r.ranks) {
      expect(k.lbfgs.threw).toBe(true);
      // createSolver agrees on its whole configuration first, so its message names the field
      expect(k.lbfgs.message).toMatch(/ranks disagree on (the vector size|parameter count \(fn\.size\)): rank 0 has 13, rank 1 has 21/);
      expect(k.after).toBe('CONVERGED_GATOL');
    }
  });

  it('layouts that differ on some ranks only fail every rank (3 ranks)', () => {
    const r = ranCleanly(3, 'one-rank-layouts');
    for (const k of r.ranks) {
      for (const c of ['dot', 'axpy', 'setValues', 'mult', 'solve']) expect(k[c].threw, `${c} on rank ${k.rank}`).toBe(true);
      expect(k.dot.message).toMatch(/Vec\.dot: (the vectors are laid out differently on rank \d|the call failed on rank 0)/);
      expect(k.setValues.message).toMatch(/Vec\.setValues: (indices\[0\]: expected an integer in \[0, 8\), got 8|the call failed on rank 1)/);
      expect(k.solve.message).toMatch(/Tao\.solve: (the Hessian's local block is|the call failed on rank 0)/);
      expect(k.after).toBe('CONVERGED_GATOL');
    }
  });

  it('a distributed Tao or KSP given sequential objects of different sizes', () => {
    const r = mpirun(2, 'tao-sizes');
    expect(r.status).toBe(0);
    expect(r.ranks).toHaveLength(2);
    for (const k of r.ranks) {
      expect(k.selfVec.message).toMatch(/Tao\.setSolution: the solution Vec is on 'self' but the Tao is on 'world'/);
      expect(k.solveSelf.threw).toBe(true);
      expect(k.selfHessian.message).toMatch(/Tao\.setHessian: the Hessian Mat is on 'self' but the Tao is on 'world'/);
      expect(k.kspSelf.message).toMatch(/KSP\.setOperators: the operator Mat is on 'self' but the KSP is on 'world'/);
      expect(k.after).toBe('CONVERGED_GATOL');
    }
  });
});

describe('signals under MPI', () => {
  it('SIGINT on one rank stops the solve on every rank; all stay usable', () => {
    const r = ranCleanly(2, 'interrupt');
    expect(r.ranks[1].solve).toMatchObject({ threw: true, name: 'InterruptedError', message: 'petscml: the solve was interrupted by SIGINT' });
    expect(r.ranks[0].solve.threw).toBe(true);
    expect(r.ranks[0].solve.message).toContain('rank 1 was interrupted by SIGINT');
    for (const k of r.ranks) expect(k.after).toBe('CONVERGED_GATOL');
  });
});

describe('a rank that leaves early ends the job instead of hanging', () => {
  const env = { PETSCML_EXIT_TIMEOUT: '2' };
  it.each(['leave-early', 'exit-early'])('%s', (mode) => {
    const r = mpirun(2, mode, { env, timeout: 40_000 });
    expect(r.error).toBeUndefined(); // not killed by our timeout: no hang
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('petscml: rank 1 exited while other ranks were still running; ending the job');
    expect(r.seconds).toBeLessThan(30);
  });

  it('process.exit() inside a callback', () => {
    const r = mpirun(2, 'exit-in-callback', { env, timeout: 40_000 });
    expect(r.error).toBeUndefined();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('petscml: rank 1 called process.exit() inside a callback while a solve was running; ending the job');
  });

  it('a rank that finishes later than the others, within the wait, still exits 0', () => {
    const r = mpirun(2, 'slow-finish', { env: { PETSCML_EXIT_TIMEOUT: '20' } });
    expect(r.status).toBe(0);
    expect(r.ranks).toHaveLength(2);
    expect(r.stderr).not.toMatch(/ending the job/);
  });
});
