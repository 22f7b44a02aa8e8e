import { spawnSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { KSP, Options, PetscError, ShellMat, Tao, Vec } from '../../src';
import { rosenbrockFG, rosenbrockHv } from '../support/rosenbrock';

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

/** A Newton solver on Rosenbrock whose callbacks can be made to fail. */
function newtonTao(fail: Partial<Record<'fg' | 'point' | 'mult' | 'monitor' | 'update', unknown>>, type = 'ntr') {
  const n = 6;
  const point = new Float64Array(n);
  let mults = 0;
  const H = new ShellMat({
    size: n,
    mult: (v, y) => {
      // fail in the middle of a Krylov solve, not at its first product
      if (fail.mult !== undefined && ++mults === 3) throw fail.mult;
      rosenbrockHv(point, v, y);
    },
  });
  const tao = new Tao({ type });
  let calls = 0;
  tao.setObjectiveAndGradient((x, g) => {
    if (fail.fg !== undefined && ++calls === 2) throw fail.fg;
    return rosenbrockFG(x, g);
  });
  tao.setHessian(H, (p) => {
    if (fail.point !== undefined) throw fail.point;
    point.set(p);
  });
  if (fail.monitor !== undefined) tao.setMonitor(() => { throw fail.monitor; });
  if (fail.update !== undefined) tao.setUpdate(() => { throw fail.update; });
  const x = Vec.create(n).set(0);
  tao.setSolution(x);
  return { tao, x, H };
}

describe('exceptions thrown in callbacks', () => {
  for (const where of ['fg', 'point', 'mult', 'monitor', 'update'] as const) {
    it(`end the solve and come back as the same object (${where})`, () => {
      const boom = new RangeError(`boom in ${where}`);
      const { tao } = newtonTao({ [where]: boom });
      expect(caught(() => tao.solve())).toBe(boom);
      expect(tao.handle.isSolving()).toBe(false);
    });
  }

  it('keep thrown primitives as they were', () => {
    expect(caught(() => newtonTao({ fg: 42 }).tao.solve())).toBe(42);
    expect(caught(() => newtonTao({ mult: 'text' }).tao.solve())).toBe('text');
  });

  it('leave the process usable: the same solver solves again', () => {
    let fail = true;
    const tao = new Tao({ type: 'lmvm' });
    const x = Vec.create(4).set(0);
    tao.setSolution(x);
    tao.setObjectiveAndGradient((p, g) => {
      if (fail) throw new Error('first time');
      return rosenbrockFG(p, g);
    });
    expect(() => tao.solve()).toThrow('first time');
    fail = false;
    x.set(0);
    expect(tao.solve().converged).toBe(true);
  });

  it('come out of a KSP solve through a shell matrix and a shell preconditioner', () => {
    const b = Vec.create(3).set(1);
    const x = Vec.create(3);
    const err = new Error('pc');
    const A = new ShellMat({ size: 3, mult: (v, y) => y.set(v) });
    const ksp = new KSP({ type: 'gmres' });
    ksp.setOperators(A);
    ksp.pc.setShell(() => { throw err; });
    expect(caught(() => ksp.solve(b, x))).toBe(err);
    ksp.pc.type = 'none';
    ksp.solve(b, x);
    for (const v of x.toArray()) expect(v).toBeCloseTo(1, 12);
  });

  // Wrapper objects are freed by Node's finalizers, which run when the event loop turns, so the
  // loop yields between batches as any program would. Leaking the stashed exception (an Error
  // with its stack) or the solver's PETSc objects would cost several KB per failed solve.
  it('leak nothing over thousands of failing solves', async () => {
    const tick = () => new Promise((r) => setImmediate(r));
    const batch = async () => {
      for (let i = 0; i < 1000; i++) {
        const boom = new Error('x');
        const { tao, x, H } = newtonTao({ mult: boom });
        // plain try/catch: vitest's expect() keeps per-assertion state that would dominate RSS
        let thrown: unknown;
        try {
          tao.solve();
        } catch (e) {
          thrown = e;
        }
        if (thrown !== boom) throw new Error(`solve did not throw the callback's exception: ${String(thrown)}`);
        tao.destroy();
        H.destroy();
        x.destroy();
      }
      await tick();
      (globalThis as { gc?: () => void }).gc!();
      await tick();
    };
    // Allocator and heap warm-up take the first several thousand solves (measured: 249 B/solve
    // over 10k solves, 82 B/solve over 40k); a leak grows linearly, so look at a later window.
    for (let b = 0; b < 8; b++) await batch();
    const before = process.memoryUsage().rss;
    const batches = 12;
    for (let b = 0; b < batches; b++) await batch();
    const perSolve = (process.memoryUsage().rss - before) / (batches * 1000);
    expect(perSolve).toBeLessThan(512);
  });
});

describe('bad values from callbacks', () => {
  it('a non-number objective is a TypeError naming the callback', () => {
    const tao = new Tao({ type: 'lmvm' });
    tao.setSolution(Vec.create(2));
    tao.setObjectiveAndGradient(() => '1' as unknown as number);
    expect(() => tao.solve()).toThrow(new TypeError('objectiveAndGradient callback must return a number, got a string'));
    tao.setObjective(() => undefined as unknown as number);
    tao.type = 'nm';
    expect(() => tao.solve()).toThrow(/objective callback must return a number, got undefined/);
  });

  it('a non-finite objective is refused naming the callback (not TAO\'s "Inf or NaN")', () => {
    const tao = new Tao({ type: 'lmvm' });
    tao.setSolution(Vec.create(2));
    tao.setObjectiveAndGradient((_x, g) => (g.fill(0), NaN));
    const e = caught(() => tao.solve()) as Error;
    expect(e).not.toBeInstanceOf(PetscError);
    expect(e.message).toBe('petscml: the objectiveAndGradient callback returned NaN; the objective must be finite');
  });

  // f = sum (x_i - 3)^2, which "overflows" (Infinity, NaN gradient) beyond |x_i| > 4: the first
  // full steps of L-BFGS (unit step from the steepest-descent start) and of NTR land there.
  const overflowing = (x: Float64Array, g: Float64Array) => {
    let f = 0;
    for (let i = 0; i < x.length; i++) {
      if (Math.abs(x[i]) > 4) { g.fill(NaN); return Infinity; }
      f += (x[i] - 3) ** 2;
      g[i] = 2 * (x[i] - 3);
    }
    return f;
  };
  it.each(['lmvm', 'nls', 'ntr'])('with setAllowNonFinite, %s steps back from overflowing trial points and converges', (type) => {
    const prefix = `nonfinite${type}_`;
    // Armijo shrinks the step at an Inf; More-Thuente (lmvm's default) gives up
    new Options(prefix).set('tao_ls_type', 'armijo');
    const tao = new Tao({ type, prefix });
    const x = Vec.fromArray(new Float64Array([0, 0.5]));
    tao.setSolution(x);
    let nonFinite = 0;
    tao.setObjectiveAndGradient((xx, g) => { const f = overflowing(xx, g); if (!Number.isFinite(f)) nonFinite++; return f; });
    tao.setObjective((xx) => { const f = overflowing(xx, new Float64Array(2)); if (!Number.isFinite(f)) nonFinite++; return f; });
    tao.setGradient((xx, g) => { overflowing(xx, g); });
    const H = new ShellMat({ size: 2, mult: (v, y) => { y[0] = 2 * v[0]; y[1] = 2 * v[1]; } });
    tao.setHessian(H, () => {});
    tao.setFromOptions();
    tao.setTolerances({ gatol: 1e-10, grtol: 0, gttol: 0 });
    // the strict default refuses the trial point
    expect(() => tao.solve()).toThrow(/callback returned Infinity; the objective must be finite/);
    x.setValues([0, 1], [0, 0.5]);
    tao.setAllowNonFinite(true);
    const r = tao.solve();
    expect(nonFinite).toBeGreaterThan(0);
    expect(r.reasonName).toBe('CONVERGED_GATOL');
    expect(Array.from(x.toArray()).map((v) => Number(v.toFixed(6)))).toEqual([3, 3]);
    tao.destroy(); H.destroy(); x.destroy();
  });

  it('with setAllowNonFinite, a non-finite start is still an error (TAO\'s own), never a converged run', () => {
    const tao = new Tao({ type: 'lmvm' });
    tao.setSolution(Vec.create(2));
    tao.setAllowNonFinite(true);
    tao.setObjectiveAndGradient((_x, g) => (g.fill(0), NaN));
    expect(() => tao.solve()).toThrow(/generated Inf or NaN/);
    tao.destroy();
  });
});

describe('reentrancy', () => {
  it('solve() and destroy() from inside the solver’s own callback are refused', () => {
    const tao = new Tao({ type: 'lmvm' });
    tao.setSolution(Vec.create(2));
    tao.setObjectiveAndGradient(() => {
      tao.solve();
      return 0;
    });
    expect(() => tao.solve()).toThrow('this Tao is busy: solve() cannot be called from inside its own callbacks');
    tao.setObjectiveAndGradient(() => {
      tao.destroy();
      return 0;
    });
    expect(() => tao.solve()).toThrow(/busy: destroy\(\)/);
    expect(tao.destroyed).toBe(false);
  });

  it('a different solver may run inside a callback', () => {
    const inner = new Tao({ type: 'lmvm' });
    const y = Vec.create(2);
    inner.setSolution(y);
    inner.setObjectiveAndGradient((p, g) => {
      g[0] = 2 * (p[0] - 3);
      g[1] = 2 * p[1];
      return (p[0] - 3) ** 2 + p[1] ** 2;
    });
    const outer = new Tao({ type: 'lmvm' });
    outer.setSolution(Vec.create(2));
    let innerRuns = 0;
    outer.setObjectiveAndGradient((p, g) => {
      y.set(0);
      inner.solve();
      innerRuns++;
      return rosenbrockFG(p, g);
    });
    expect(outer.solve().converged).toBe(true);
    expect(innerRuns).toBeGreaterThan(0);
    expect(y.toArray()[0]).toBeCloseTo(3, 6);
  });
});

describe('PETSc errors', () => {
  it('become PetscError with code, message, rank and traceback', () => {
    const e = caught(() => new KSP({ type: 'no_such_ksp' })) as PetscError;
    expect(e).toBeInstanceOf(PetscError);
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('PetscError');
    expect(e.code).toBe(86); // PETSC_ERR_UNKNOWN_TYPE
    expect(e.petscMessage).toBe('Unable to find requested KSP type no_such_ksp');
    expect(e.message).toContain('Unable to find requested KSP type no_such_ksp');
    expect(e.rank).toBe(0);
    expect(e.traceback[0]).toMatch(/^KSPSetType\(\) at .*itcreate\.c:\d+$/);
  });

  it('print no PETSc banner on stderr', () => {
    const script = `
      const { KSP } = require(${JSON.stringify(path.resolve(__dirname, '../../dist'))});
      try { new KSP({ type: 'no_such_ksp' }); } catch (e) { console.log(e.name); }`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('PetscError');
    expect(r.stderr).not.toMatch(/PETSC ERROR/);
    expect(r.stderr).toBe('');
  });
});
