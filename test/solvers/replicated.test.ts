// Replicated callbacks on one process: the gather and the reduction are copies there, so a solve
// in replicated mode must be the very same run as in the default mode. (The multi-rank cases run
// under mpirun in test/data-parallel.test.ts.)
import { describe, expect, it, vi } from 'vitest';
import { allreduce, comm, isRoot, rank, replicationStats, rootLog, ShellMat, Tao, Vec } from '../../src';
import { rosenbrockFG, rosenbrockHv } from '../support/rosenbrock';

function run(type: string, replicated: boolean) {
  const n = 10;
  const point = new Float64Array(n);
  const H = new ShellMat({ size: n, replicated, mult: (v, y) => rosenbrockHv(point, v, y) });
  const tao = new Tao({ type });
  if (replicated) tao.setReplicated(true);
  tao.setObjectiveAndGradient(rosenbrockFG);
  tao.setHessian(H, (x) => point.set(x));
  tao.setTolerances({ gatol: 1e-9, grtol: 0, gttol: 0 });
  const x = Vec.create(n).set(0);
  const r = tao.solve(x);
  const out = { iterations: r.iterations, counts: r.counts, f: r.f, x: Array.from(x.toArray()) };
  tao.destroy(); H.destroy(); x.destroy();
  return out;
}

describe('replicated callbacks on one rank', () => {
  it.each(['lmvm', 'ntr', 'nls'])('%s: the same run bit for bit, with one gather per evaluation', (type) => {
    const plain = run(type, false);
    replicationStats({ reset: true });
    const rep = run(type, true);
    const s = replicationStats();
    expect(rep).toEqual(plain);
    const c = rep.counts;
    expect(s.gathers).toBe(c.objective + c.gradient + c.objectiveAndGradient + c.hessian + c.hessianMult);
    expect(s.reductions).toBe(c.gradient + c.objectiveAndGradient + c.hessianMult);
    expect(s.gatheredDoubles).toBe(10 * s.gathers);
  });

  it('refuses what cannot be replicated', () => {
    expect(() => new ShellMat({ rows: 3, cols: 4, replicated: true, mult: () => {} })).toThrow(/petscml: ShellMat: replicated: expected a square matrix/);
    expect(() => new ShellMat({ size: 3, replicated: 'yes' as never, mult: () => {} })).toThrow(/petscml: ShellMat: replicated: expected a boolean/);
    expect(() => new Tao().setReplicated(1 as never)).toThrow(/petscml: Tao.setReplicated: expected a boolean/);
  });
});

describe('rank helpers on one process', () => {
  it('rank 0 of 1 is the root and prints', () => {
    expect(comm()).toEqual({ rank: 0, size: 1 });
    expect(rank()).toBe(0);
    expect(isRoot()).toBe(true);
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    rootLog('hello', 1);
    expect(log).toHaveBeenCalledWith('hello', 1);
    log.mockRestore();
  });

  it('allreduce returns a copy; Vec.fromArray on world keeps the whole vector', () => {
    const a = [1, 2, 3];
    const r = allreduce(a, 'max');
    expect(Array.from(r)).toEqual(a);
    expect(() => allreduce(a, 'prod' as never)).toThrow(/petscml: allreduce: op/);
    const v = Vec.fromArray([4, 5, 6], 'world');
    expect(v.size).toBe(3);
    expect(Array.from(v.toArray())).toEqual([4, 5, 6]);
    v.destroy();
  });
});
