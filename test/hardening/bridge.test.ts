// Issue 10, native bridge: bad input, misbehaving callbacks and misuse must end in an error that
// names the problem, never a crash, a hang or a wrong "converged" result; and the process must
// stay usable afterwards (every case ends by solving again).
import { describe, expect, it } from 'vitest';
import { finalize, isFinalized, KSP, Options, PetscError, ShellMat, Tao, Vec } from '../../src';
import { native } from '../../src/native';
import { rosenbrockFG, rosenbrockHv } from '../support/rosenbrock';

function caught(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}

/** A fresh small solve that must converge: the process is still usable. */
function solvesAgain(): void {
  const tao = new Tao({ type: 'lmvm' });
  const x = Vec.create(4).set(0);
  tao.setObjectiveAndGradient(rosenbrockFG);
  tao.setTolerances({ gatol: 1e-8 });
  expect(tao.solve(x).converged).toBe(true);
  tao.destroy();
  x.destroy();
  expect(isFinalized()).toBe(false);
}

type Kind = 'objective' | 'gradient' | 'objectiveAndGradient' | 'hessian' | 'mult' | 'getDiagonal' | 'monitor' | 'update';

/**
 * An ntr (or lmvm for the first-order callbacks) solve on Rosenbrock where callback `kind` is
 * replaced by `bad` (called with the same arguments; `good` is the well-behaved body).
 */
function solveWith(kind: Kind, bad: (good: (...a: never[]) => unknown, ...args: never[]) => unknown) {
  const n = 6;
  const point = new Float64Array(n);
  const wrap = <F extends (...a: never[]) => unknown>(k: Kind, good: F): F =>
    (k === kind ? (...args: never[]) => bad(good, ...args) : good) as F;
  const H = new ShellMat({
    size: n,
    mult: wrap('mult', (v: Float64Array, y: Float64Array) => rosenbrockHv(point, v, y)),
    getDiagonal: wrap('getDiagonal', (d: Float64Array) => d.fill(1)),
  });
  const firstOrder = kind === 'objective' || kind === 'gradient';
  const tao = new Tao({ type: firstOrder ? 'lmvm' : 'ntr' });
  if (firstOrder) {
    tao.setObjective(wrap('objective', (x: Float64Array) => rosenbrockFG(x, new Float64Array(n))));
    tao.setGradient(wrap('gradient', (x: Float64Array, g: Float64Array) => void rosenbrockFG(x, g)));
  } else {
    tao.setObjectiveAndGradient(wrap('objectiveAndGradient', (x: Float64Array, g: Float64Array) => rosenbrockFG(x, g)));
    tao.setHessian(H, wrap('hessian', (p: Float64Array) => void point.set(p)));
    tao.ksp!.pc.type = 'jacobi';
  }
  tao.setMonitor(wrap('monitor', () => {}));
  tao.setUpdate(wrap('update', () => {}));
  const x = Vec.create(n).set(0);
  tao.setSolution(x);
  tao.setTolerances({ gatol: 1e-8 });
  return { tao, x, H, run: () => tao.solve() };
}

const kinds: Kind[] = ['objective', 'gradient', 'objectiveAndGradient', 'hessian', 'mult', 'getDiagonal', 'monitor', 'update'];

describe('integer arguments above PetscInt (32-bit) are refused, not wrapped', () => {
  it('Vec sizes', () => {
    for (const bad of [2 ** 32 + 5, 2 ** 31, 1e12]) {
      expect(() => Vec.create(bad)).toThrow(RangeError);
      expect(() => Vec.create(bad)).toThrow(/Vec\.create: global size.*2147483647/);
      expect(() => Vec.create({ local: bad })).toThrow(/local size.*2147483647/);
    }
    for (const bad of [-1, 1.5, NaN, Infinity]) expect(() => Vec.create(bad)).toThrow(/global size/);
    expect(Vec.create(2 ** 20).size).toBe(2 ** 20);
  });

  it('ShellMat sizes', () => {
    const mult = () => {};
    expect(() => new ShellMat({ size: 2 ** 32 + 4, mult })).toThrow(RangeError);
    expect(() => new ShellMat({ size: 2 ** 32 + 4, mult })).toThrow(/rows.*2147483647/);
    expect(() => new ShellMat({ rows: 4, cols: 2 ** 31, mult })).toThrow(/cols.*2147483647/);
    expect(() => new ShellMat({ localRows: 2 ** 33, size: 4, mult })).toThrow(/localRows/);
  });

  it('Tao and KSP iteration limits', () => {
    const tao = new Tao({ type: 'lmvm' });
    for (const bad of [1e12, 2 ** 32 + 2, 2 ** 31]) {
      expect(() => { tao.maxIterations = bad; }).toThrow(RangeError);
      expect(() => { tao.maxIterations = bad; }).toThrow(/maxIterations.*2147483647/);
      expect(() => { tao.maxFunctionEvaluations = bad; }).toThrow(/maxFunctionEvaluations.*2147483647/);
    }
    tao.maxIterations = 2 ** 31 - 1;
    const ksp = new KSP({ type: 'cg' });
    expect(() => ksp.setTolerances({ maxIts: 2 ** 32 })).toThrow(/maxIts.*2147483647/);
    ksp.setTolerances({ maxIts: 7 });
    expect(ksp.tolerances.maxIts).toBe(7);
  });

  it('the native bridge validates integers itself (sizes, limits, indices, lengths)', () => {
    Vec.create(1); // initializes PETSc
    const n = native();
    expect(() => new n.Vec('self', null, 2 ** 32 + 5)).toThrow(/global size.*2147483647/);
    expect(() => new n.Vec('self', -1, null)).toThrow(/local size.*got -1/);
    expect(() => new n.Vec('self', 1.5, null)).toThrow(/local size/);
    expect(() => new n.Vec('self', NaN, null)).toThrow(/local size/);
    expect(() => new n.Mat('self', null, null, 2 ** 32 + 4, 4)).toThrow(/rows.*2147483647/);
    const tao = new n.Tao('self');
    expect(() => tao.setMaximumIterations(1e12)).toThrow(/maximum iterations.*2147483647/);
    expect(() => tao.setMaximumIterations(2 ** 32 + 2)).toThrow(RangeError);
    expect(() => tao.setMaximumFunctionEvaluations(2 ** 40)).toThrow(RangeError);
    const ksp = new n.KSP('self');
    expect(() => ksp.setTolerances(NaN, NaN, NaN, 2 ** 32)).toThrow(/maxIts.*2147483647/);
    const v = new n.Vec('self', null, 4);
    expect(() => v.setValues(new Int32Array([0, 1]), new Float64Array(1), false)).toThrow(/2 indices but 1 values/);
    expect(() => v.setValues(new Int32Array([7]), new Float64Array(1), false)).toThrow(/indices\[0\]: expected an integer in \[0, 4\), got 7/);
    expect(() => v.getValues(new Int32Array([-1]))).toThrow(/index -1/);
    expect(() => v.setArray(new Float64Array(3))).toThrow(/length 3/);
    expect(() => v.setValues([0] as unknown as Int32Array, new Float64Array(1), false)).toThrow(TypeError);
    expect(() => v.setArray([1, 2, 3, 4] as unknown as Float64Array)).toThrow(TypeError);
  });

  it('options with integer values out of range are refused', () => {
    const o = new Options('hardening_');
    expect(() => o.set('tao_max_it', 4294967297)).toThrow(RangeError);
    expect(() => o.set('tao_max_it', '4294967297')).toThrow(/tao_max_it.*2147483647/);
    expect(() => Options.insert('-hardening_tao_max_it 4294967297')).toThrow(/tao_max_it.*2147483647/);
    expect(o.has('tao_max_it')).toBe(false);
    o.set('tao_max_it', 2 ** 31 - 1);
    expect(o.get('tao_max_it')).toBe('2147483647');
    o.set('tao_gatol', 1e-12); // reals are not integers: left alone
    o.delete('tao_max_it').delete('tao_gatol');
    solvesAgain();
  });
});

describe('destroying an object that is in use is refused', () => {
  it('withArray(() => v.destroy())', () => {
    const v = Vec.create(5).set(2);
    expect(() => v.withArray(() => v.destroy())).toThrow(/cannot destroy this Vec: it is in use by withArray/);
    expect(v.destroyed).toBe(false);
    expect(v.sum()).toBe(10);
    v.destroy();
    expect(v.destroyed).toBe(true);
  });

  it('a mult closure destroying its input, its output or its matrix', () => {
    const x = Vec.create(3).set(1);
    const y = Vec.create(3);
    for (const victim of ['x', 'y', 'H'] as const) {
      const H: ShellMat = new ShellMat({
        size: 3,
        mult: (a, b) => {
          ({ x, y, H }[victim]).destroy();
          b.set(a);
        },
      });
      expect(() => H.mult(x, y)).toThrow(/cannot destroy this (Vec|Mat): it is in use/);
      H.destroy();
    }
    expect(x.sum()).toBe(3);
  });

  it('inside every callback of a solve: the solver, its solution, its Hessian, its KSP', () => {
    for (const kind of kinds) {
      for (const victim of ['tao', 'x', 'H', 'ksp'] as const) {
        // lmvm (used for these two) has neither a Hessian nor a KSP: destroying H is then legitimate
        if ((victim === 'ksp' || victim === 'H') && (kind === 'objective' || kind === 'gradient')) continue;
        const s = solveWith(kind, (good, ...args) => {
          const target = victim === 'tao' ? s.tao : victim === 'x' ? s.x : victim === 'H' ? s.H : s.tao.ksp!;
          target.destroy();
          return good(...args);
        });
        const e = caught(s.run);
        expect(e.message, `${kind}/${victim}`).toMatch(/cannot destroy this (Tao|Vec|Mat|KSP)|this Tao is busy/);
        expect(s.x.destroyed).toBe(false);
        expect(s.H.handle.isDestroyed()).toBe(false);
      }
    }
    solvesAgain();
  });

  it('inside a KSP solve: the KSP, its PC, the right-hand side', () => {
    const b = Vec.create(3).set(1);
    const x = Vec.create(3);
    const ksp = new KSP({ type: 'gmres' });
    let victim: { destroy(): void } | null = null;
    const A = new ShellMat({ size: 3, mult: (v, y) => { victim?.destroy(); y.set(v); } });
    ksp.setOperators(A);
    ksp.pc.setShell((v, y) => y.set(v));
    for (const v of [ksp, ksp.pc.handle, b, A]) {
      victim = v;
      expect(() => ksp.solve(b, x)).toThrow(/cannot destroy this (KSP|PC|Vec|Mat): it is in use by KSP\.solve/);
    }
    victim = null;
    ksp.solve(b, x);
    for (const v of x.toArray()) expect(v).toBeCloseTo(1, 10);
  });

  it('a Newton solver whose products failed in several solves in a row solves again', () => {
    let fail = 3;
    const s = solveWith('mult', (good, ...args) => {
      if (fail > 0) throw new Error('product failed');
      return good(...args);
    });
    for (; fail > 0; fail--) expect(s.run).toThrow('product failed');
    s.x.set(0);
    expect(s.run().converged).toBe(true);
  });

  it('re-entering a busy KSP from its own operator is refused', () => {
    const b = Vec.create(3).set(1);
    const x = Vec.create(3);
    const ksp = new KSP({ type: 'gmres' });
    const A = new ShellMat({ size: 3, mult: (v, y) => { ksp.solve(b, x); y.set(v); } });
    ksp.setOperators(A);
    ksp.pc.type = 'none';
    expect(() => ksp.solve(b, x)).toThrow(/this KSP is busy: solve\(\) cannot be called from inside its own callbacks/);
  });
});

describe('finalize() inside a callback is refused', () => {
  it.each(kinds)('%s', (kind) => {
    const s = solveWith(kind, (good, ...args) => {
      finalize();
      return good(...args);
    });
    expect(s.run).toThrow(/finalize\(\) cannot be called inside a callback/);
    solvesAgain();
  });

  it('withArray, PC apply', () => {
    const v = Vec.create(2);
    expect(() => v.withArray(() => finalize())).toThrow(/finalize\(\) cannot be called inside a callback/);
    const ksp = new KSP({ type: 'gmres' });
    ksp.setOperators(new ShellMat({ size: 2, mult: (a, b) => b.set(a) }));
    ksp.pc.setShell(() => finalize());
    expect(() => ksp.solve(Vec.create(2).set(1), Vec.create(2))).toThrow(/finalize\(\) cannot be called inside a callback/);
    solvesAgain();
  });
});

describe('callbacks returning a Promise are refused by name', () => {
  it.each(kinds)('%s', async (kind) => {
    const s = solveWith(kind, async (good, ...args) => good(...args));
    expect(s.run).toThrow(new RegExp(`the ${kind} callback returned a Promise; callbacks must be synchronous`));
    // the async bodies go on after the solve, on detached views: no unhandled rejection may follow
    await new Promise((r) => setTimeout(r, 20));
    solvesAgain();
  });

  it('withArray, multTranspose, PC apply, thenables', () => {
    const v = Vec.create(2);
    expect(() => v.withArray(async () => 1)).toThrow(/the withArray callback returned a Promise/);
    const H = new ShellMat({ size: 2, mult: (a, b) => b.set(a), multTranspose: (() => ({ then() {} })) as never });
    expect(() => H.multTranspose(Vec.create(2), Vec.create(2))).toThrow(/the multTranspose callback returned a Promise/);
    const ksp = new KSP({ type: 'gmres' });
    ksp.setOperators(H);
    ksp.pc.setShell(async (a, b) => b.set(a));
    expect(() => ksp.solve(Vec.create(2).set(1), Vec.create(2))).toThrow(/the PC apply callback returned a Promise/);
  });
});

describe('outputs a callback did not write, or wrote as NaN or Infinity, are errors', () => {
  it('a gradient that never writes g', () => {
    for (const kind of ['gradient', 'objectiveAndGradient'] as const) {
      const s = solveWith(kind, (good, x: never) => (kind === 'gradient' ? undefined : rosenbrockFG(x, new Float64Array(6))));
      expect(s.run).toThrow(new RegExp(`the ${kind} callback did not write the gradient \\(entries 0\\.\\.5 of 6 untouched\\)`));
    }
    solvesAgain();
  });

  it('a gradient that writes g only the first time (a stale gradient is not taken as written)', () => {
    let calls = 0;
    const s = solveWith('objectiveAndGradient', (good, x: never, g: never) =>
      ++calls === 1 ? good(x, g) : rosenbrockFG(x, new Float64Array(6)));
    expect(s.run).toThrow(/objectiveAndGradient callback did not write the gradient/);
  });

  it('a gradient that leaves one entry unwritten', () => {
    const s = solveWith('gradient', (good, x: Float64Array, g: Float64Array) => {
      const full = new Float64Array(6);
      rosenbrockFG(x, full);
      g.set(full.subarray(0, 5));
    });
    expect(s.run).toThrow(/gradient callback did not write the gradient \(entry 5 of 6 untouched\)/);
  });

  it.each([
    ['objective', NaN], ['objective', Infinity], ['objectiveAndGradient', NaN], ['objectiveAndGradient', -Infinity],
  ] as const)('%s returning %s', (kind, value) => {
    const s = solveWith(kind, (good, ...args) => (good(...args), value));
    expect(s.run).toThrow(new RegExp(`the ${kind} callback returned ${value}`));
  });

  it.each(['gradient', 'objectiveAndGradient', 'mult', 'getDiagonal'] as const)('%s writing NaN', (kind) => {
    let calls = 0;
    const s = solveWith(kind, (good, ...args) => {
      const r = good(...args);
      const out = args[args.length - 1] as unknown as Float64Array;
      if (++calls >= 2) out[1] = NaN;
      return r;
    });
    const e = caught(s.run);
    expect(e.message).toMatch(new RegExp(`the ${kind} callback wrote NaN .*entry 1`));
    expect(e).not.toBeInstanceOf(PetscError);
  });

  it('Hessian products that are NaN never report convergence (ntr on extended Rosenbrock)', () => {
    const n = 100;
    const tao = new Tao({ type: 'ntr' });
    tao.setObjectiveAndGradient(rosenbrockFG);
    tao.setHessian(new ShellMat({ size: n, mult: (_v, y) => y.fill(NaN) }));
    const e = caught(() => tao.solve(Vec.create(n).set(0)));
    expect(e.message).toMatch(/the mult callback wrote NaN/);
  });

  it('products and preconditioners that write nothing', () => {
    const s = solveWith('mult', () => {});
    expect(s.run).toThrow(/the mult callback did not write its output/);
    const H = new ShellMat({ size: 2, mult: (a, b) => b.set(a), multTranspose: () => {} });
    expect(() => H.multTranspose(Vec.create(2), Vec.create(2))).toThrow(/the multTranspose callback did not write its output/);
    const ksp = new KSP({ type: 'gmres' });
    ksp.setOperators(H);
    ksp.pc.setShell(() => {});
    expect(() => ksp.solve(Vec.create(2).set(1), Vec.create(2))).toThrow(/the PC apply callback did not write its output/);
    ksp.pc.setShell((a, b) => b.set(a));
    const x = ksp.solve(Vec.create(2).set(1), Vec.create(2));
    for (const v of x.toArray()) expect(v).toBeCloseTo(1, 12);
    solvesAgain();
  });

  it.each(['objective', 'gradient', 'objectiveAndGradient', 'hessian', 'mult'] as const)('%s writing into its input x', (kind) => {
    const s = solveWith(kind, (good, x: Float64Array, ...rest: never[]) => {
      const r = good(x as never, ...rest);
      x[0] += 1; // e.g. an in-place update of what should be a read-only input
      return r;
    });
    expect(s.run).toThrow(new RegExp(`the ${kind} callback wrote into its input array x`));
    solvesAgain();
  });

  it('a product returning its result instead of writing it', () => {
    const H = new ShellMat({ size: 2, mult: ((a: Float64Array) => Float64Array.from(a)) as never });
    expect(() => H.mult(Vec.create(2).set(1), Vec.create(2))).toThrow(/did not write its output .*it returned an array instead/);
  });

  it('sizes that do not fit are refused before PETSc runs (products, KSP, Hessian, bounds)', () => {
    const H = new ShellMat({ size: 4, mult: (a, b) => b.set(a) });
    expect(() => H.mult(Vec.create(3), Vec.create(4))).toThrow(/ShellMat\.mult\(\): the matrix's local block is 4 x 4 on rank 0 but x has 3 and y 4/);
    const ksp = new KSP({ type: 'cg' });
    ksp.setOperators(H);
    expect(() => ksp.solve(Vec.create(3).set(1), Vec.create(4))).toThrow(/KSP\.solve: the operator's local block is 4 x 4/);
    const tao = new Tao({ type: 'ntr' });
    tao.setObjectiveAndGradient(rosenbrockFG);
    tao.setHessian(new ShellMat({ size: 3, mult: (a, b) => b.set(a) }));
    expect(() => tao.solve(Vec.create(4).set(1))).toThrow(/Tao\.solve: the Hessian is 3 x 3 but the solution has 4 entries/);
    const b = new Tao({ type: 'blmvm' });
    b.setObjectiveAndGradient(rosenbrockFG);
    b.setVariableBounds(Vec.create(3), Vec.create(3));
    expect(() => b.solve(Vec.create(4))).toThrow(/Tao\.solve: a bound has 3 of 3 entries on rank 0 but the solution has 4 of 4/);
    solvesAgain();
  });

  it('a first-order type still stops with DIVERGED_NAN when training blows up', () => {
    const tao = new Tao({ type: 'sgd' });
    new Options().set('tao_sgd_lr', 10);
    tao.setFromOptions();
    new Options().delete('tao_sgd_lr');
    tao.setTolerances({ grtol: 0 });
    tao.setObjectiveAndGradient((x, g) => {
      g[0] = 4 * x[0] ** 3;
      return x[0] ** 4;
    });
    tao.maxIterations = 100;
    const r = tao.solve(Vec.fromArray([2]));
    expect(r.reasonName).toBe('DIVERGED_NAN');
  });
});
