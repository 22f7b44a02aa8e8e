import { describe, expect, it } from 'vitest';
import { attachFunction, HessianKind, HessianOperator, ObjectiveFunction, Tao, Vec } from '../../src';
import { rosenbrockFG, rosenbrockHv } from '../support/rosenbrock';

/** The function interface implemented in plain TypeScript: no tfjs involved. */
class Rosenbrock implements ObjectiveFunction {
  readonly size: number;
  kinds: HessianKind[] = [];
  constructor(size: number) {
    this.size = size;
  }
  objective(x: Float64Array): number {
    return rosenbrockFG(x, new Float64Array(x.length));
  }
  gradient(x: Float64Array, g: Float64Array): void {
    rosenbrockFG(x, g);
  }
  objectiveAndGradient(x: Float64Array, g: Float64Array): number {
    return rosenbrockFG(x, g);
  }
  hessian(kind: HessianKind): HessianOperator {
    if (kind !== 'exact') throw new Error('Rosenbrock offers exact Hessian products only');
    this.kinds.push(kind);
    const point = new Float64Array(this.size);
    return { kind, setPoint: (x) => point.set(x), apply: (v, y) => rosenbrockHv(point, v, y) };
  }
}

describe('attachFunction', () => {
  for (const type of ['ntr', 'nls', 'lmvm']) {
    it(`solves a plain TypeScript ObjectiveFunction with ${type}`, () => {
      const fn = new Rosenbrock(20);
      const tao = new Tao({ type });
      const attached = attachFunction(tao, fn, { hessian: type === 'lmvm' ? 'none' : 'exact' });
      const x = Vec.create(20).set(0);
      const r = tao.solve(x);
      expect(r.converged).toBe(true);
      for (const xi of x.toArray()) expect(xi).toBeCloseTo(1, 6);
      if (type !== 'lmvm') {
        expect(fn.kinds).toEqual(['exact']);
        expect(r.counts.hessianMult).toBe(attached.hessian!.multCount);
      }
      attached.destroy();
      tao.destroy();
    });
  }

  it('passes the function’s refusal of a Hessian kind through, and rejects what is not a function', () => {
    const tao = new Tao({ type: 'ntr' });
    expect(() => attachFunction(tao, new Rosenbrock(4), { hessian: 'gauss-newton' })).toThrow('exact Hessian products only');
    expect(() => attachFunction(tao, {} as ObjectiveFunction)).toThrow(/expected an ObjectiveFunction/);
    expect(() => attachFunction(tao, new Rosenbrock(4), { hessian: 'newton' as HessianKind })).toThrow(/'exact', 'gauss-newton' or 'none'/);
  });
});
