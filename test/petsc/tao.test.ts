import { describe, expect, it } from 'vitest';
import { Options, ShellMat, Tao, TaoStatus, Vec } from '../../src';
import { rosenbrockF, rosenbrockFG, rosenbrockHv } from '../support/rosenbrock';

function rosenbrockTao(type: string, n: number, opts: { hessian?: boolean; prefix?: string } = {}) {
  const x = Vec.create(n).set(0);
  const tao = new Tao({ type, prefix: opts.prefix });
  tao.setObjectiveAndGradient(rosenbrockFG);
  const point = new Float64Array(n);
  let H: ShellMat | undefined;
  if (opts.hessian !== false) {
    H = new ShellMat({ size: n, mult: (v, y) => rosenbrockHv(point, v, y) });
    tao.setHessian(H, (p) => point.set(p));
  }
  tao.setSolution(x);
  return { tao, x, H };
}

const UNCONSTRAINED = ['lmvm', 'nls', 'ntr', 'ntl', 'cg', 'blmvm', 'bqnls', 'bnls', 'bntr', 'tron'];

describe('Tao on extended Rosenbrock', () => {
  for (const type of UNCONSTRAINED) {
    it(`${type} reaches the minimizer (1, ..., 1)`, () => {
      const { tao, x } = rosenbrockTao(type, 20);
      tao.setTolerances({ gatol: 1e-8, grtol: 0, gttol: 0 });
      tao.maxIterations = 500;
      const r = tao.solve();
      expect(r.converged).toBe(true);
      expect(r.reasonName).toBe('CONVERGED_GATOL');
      expect(r.gnorm).toBeLessThan(1e-8);
      for (const xi of x.toArray()) expect(Math.abs(xi - 1)).toBeLessThan(1e-6);
      expect(r.counts.iterations).toBe(r.iterations);
      expect(r.counts.objectiveAndGradient).toBeGreaterThan(0);
    });
  }

  for (const ksp of ['stcg', 'nash', 'gltr']) {
    it(`ntr with ${ksp} uses Hessian products through the shell and counts them`, () => {
      const { tao, x, H } = rosenbrockTao('ntr', 20, { prefix: `t_${ksp}_` });
      new Options(`t_${ksp}_`).set('tao_ntr_ksp_type', ksp);
      tao.setFromOptions();
      expect(tao.ksp!.type).toBe(ksp);
      const r = tao.solve();
      expect(r.converged).toBe(true);
      for (const xi of x.toArray()) expect(xi).toBeCloseTo(1, 6);
      expect(r.counts.hessianMult).toBe(H!.multCount);
      expect(r.counts.hessianMult).toBeGreaterThan(0);
      expect(r.counts.kspIterations).toBeGreaterThan(0);
      expect(r.counts.hessian).toBeGreaterThan(0);
    });
  }

  it('nm (derivative-free) minimizes a 2-variable Rosenbrock with the objective alone', () => {
    const x = Vec.create(2).set(0);
    const tao = new Tao({ type: 'nm' });
    let calls = 0;
    tao.setObjective((p) => (calls++, rosenbrockF(p)));
    tao.setSolution(x);
    tao.maxIterations = 5000;
    tao.maxFunctionEvaluations = 10000;
    tao.setTolerances({ gatol: 1e-10, grtol: 0, gttol: 0 });
    tao.solve();
    expect(calls).toBeGreaterThan(0);
    for (const xi of x.toArray()) expect(xi).toBeCloseTo(1, 3);
  });

  it('separate objective and gradient callbacks are counted apart', () => {
    const x = Vec.create(4).set(0);
    const tao = new Tao({ type: 'lmvm' });
    tao.setObjective(rosenbrockF);
    tao.setGradient((p, g) => void rosenbrockFG(p, g));
    tao.setSolution(x);
    const r = tao.solve();
    expect(r.converged).toBe(true);
    expect(r.counts.objective).toBeGreaterThan(0);
    expect(r.counts.gradient).toBeGreaterThan(0);
    expect(r.counts.objectiveAndGradient).toBe(0);
  });

  for (const type of ['blmvm', 'bqnls', 'bnls', 'bntr', 'tron']) {
    it(`${type} respects variable bounds`, () => {
      const n = 10;
      const { tao, x } = rosenbrockTao(type, n);
      const lb = Vec.create(n).set(-2);
      // x[0] <= 0.5 is active at the solution: the pair (x0, x1) then minimizes at (0.5, 0.25).
      const ub = Vec.fromArray(Array.from({ length: n }, (_, i) => (i === 0 ? 0.5 : 2)));
      tao.setVariableBounds(lb, ub);
      tao.setTolerances({ gatol: 1e-9, grtol: 0, gttol: 0 });
      tao.maxIterations = 500;
      const r = tao.solve();
      expect(r.converged).toBe(true);
      const s = x.toArray();
      for (let i = 0; i < n; i++) {
        expect(s[i]).toBeGreaterThanOrEqual(-2);
        expect(s[i]).toBeLessThanOrEqual(i === 0 ? 0.5 : 2);
      }
      expect(s[0]).toBeCloseTo(0.5, 8);
      expect(s[1]).toBeCloseTo(0.25, 6);
      for (let i = 2; i < n; i++) expect(s[i]).toBeCloseTo(1, 6);
    });
  }

  // lmvm: Newton-type solvers in PETSc 3.18 report some iteration numbers twice (rejected
  // trust-region steps, BNK's initialization); petsc4py sees the same sequences.
  it('calls the monitor every iteration and the update hook at the start of each', () => {
    const { tao } = rosenbrockTao('lmvm', 10);
    const seen: TaoStatus[] = [];
    const updates: number[] = [];
    tao.setMonitor((s) => seen.push(s));
    tao.setUpdate((k) => updates.push(k));
    const r = tao.solve();
    expect(seen.map((s) => s.iteration)).toEqual(Array.from({ length: r.iterations + 1 }, (_, i) => i));
    expect(seen[0].f).toBe(10 * 0.5 * 1); // f(0) = n/2
    expect(seen[seen.length - 1].f).toBe(r.f);
    expect(seen.every((s) => typeof s.gnorm === 'number' && typeof s.stepLength === 'number')).toBe(true);
    expect(updates).toEqual(Array.from({ length: r.iterations }, (_, i) => i));
    expect(r.counts.update).toBe(r.iterations);
    tao.setMonitor(null);
    seen.length = 0;
    tao.solve();
    expect(seen).toHaveLength(0);
  });

  it('reports the trust radius of trust-region solvers in the monitor', () => {
    const { tao } = rosenbrockTao('ntr', 10);
    const radii: number[] = [];
    tao.setMonitor((s) => radii.push(s.trustRadius));
    tao.solve();
    expect(radii.some((r) => r > 0)).toBe(true);
  });

  it('isolates two solvers in one script by options prefix', () => {
    new Options('a_').setAll({ tao_type: 'ntr', tao_max_it: 3 });
    new Options('b_').set('tao_type', 'cg');
    const a = rosenbrockTao('lmvm', 10, { prefix: 'a_' }).tao.setFromOptions();
    const b = rosenbrockTao('lmvm', 10, { prefix: 'b_' }).tao.setFromOptions();
    expect(a.prefix).toBe('a_');
    expect(a.type).toBe('ntr');
    expect(b.type).toBe('cg');
    expect(a.solve().iterations).toBe(3);
    expect(b.solve().converged).toBe(true);
    expect(new Options('a_').get('tao_max_it')).toBe('3');
    expect(new Options().has('tao_type')).toBe(false);
    new Options('a_').delete('tao_max_it');
    expect(new Options('a_').has('tao_max_it')).toBe(false);
  });

  it('picks a preconditioner that works with a shell Hessian, Jacobi when the diagonal is given', () => {
    const n = 10;
    const point = new Float64Array(n);
    const H = new ShellMat({
      size: n,
      mult: (v, y) => rosenbrockHv(point, v, y),
      getDiagonal: (d) => {
        for (let i = 0; i < n; i += 2) {
          d[i] = 12 * 100 * point[i] ** 2 - 400 * point[i + 1] + 2;
          d[i + 1] = 200;
        }
      },
    });
    const tao = new Tao({ type: 'ntl' });
    tao.setObjectiveAndGradient(rosenbrockFG);
    tao.setHessian(H, (p) => point.set(p));
    tao.setSolution(Vec.create(n).set(0));
    expect(tao.solve().converged).toBe(true);
    expect(tao.ksp!.pc.type).toBe('jacobi');
  });

  it('rejects bad arguments', () => {
    const tao = new Tao();
    expect(() => tao.setObjective(1 as unknown as () => number)).toThrow(/Tao.setObjective: expected a function, got 1/);
    expect(() => tao.setSolution([1, 2] as unknown as Vec)).toThrow(/expected a Vec, got an array of length 2/);
    expect(() => tao.setHessian({} as ShellMat)).toThrow(/expected a ShellMat/);
    expect(() => (tao.maxIterations = -3)).toThrow(/Tao\.maxIterations: expected an integer in \[0, 2147483647\], got -3/);
    expect(() => new Tao({ comm: 'galaxy' as 'self' })).toThrow(/'self' or 'world'/);
    expect(() => (tao.type = 'no_such_solver')).toThrow(/Unknown Tao type|no_such_solver/);
    expect(() => new ShellMat({ size: 3 } as never)).toThrow(/ShellMat: mult: expected a function/);
  });

  it('refuses use after destroy', () => {
    const { tao } = rosenbrockTao('lmvm', 4);
    tao.destroy();
    expect(tao.destroyed).toBe(true);
    expect(() => tao.solve()).toThrow(/this Tao has been destroyed/);
  });
});
