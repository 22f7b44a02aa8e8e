import { beforeAll, describe, expect, it } from 'vitest';
import { Random } from '../../src/problems/darcy1d';
import { advection, advectionSolution, drawAdvectionInitial } from '../../src/problems/advection';
import type { Advection, SquareWave, SquareWaveEllipse } from '../../src/problems/advection';

describe('drawAdvectionInitial', () => {
  it("draws each parameter uniformly over the authors' range, in their order", () => {
    const count = 4000;
    const ranges1: Record<string, [number, number]> = { h: [1, 2], w: [0.3, 0.6], c: [0.3, 0.7] };
    const ranges2: Record<string, [number, number]> = { c1: [0.2, 0.3], w: [0.1, 0.2], h1: [0.5, 2], c2: [0.7, 0.8], a: [5, 10], h2: [0.5, 2] };
    for (const [kind, ranges] of [[1, ranges1], [2, ranges2]] as const) {
      const rng = new Random(17);
      const draws = Array.from({ length: count }, () => drawAdvectionInitial(rng, kind) as unknown as Record<string, number>);
      for (const [name, [lo, hi]] of Object.entries(ranges)) {
        const v = draws.map((d) => d[name]);
        const min = Math.min(...v), max = Math.max(...v);
        const mean = v.reduce((s, x) => s + x, 0) / count;
        expect(min).toBeGreaterThanOrEqual(lo);
        expect(max).toBeLessThanOrEqual(hi);
        // 4000 uniforms come within 0.3% of the range of both ends (probability of failing ~1e-5)
        expect(min - lo).toBeLessThan(0.003 * (hi - lo));
        expect(hi - max).toBeLessThan(0.003 * (hi - lo));
        // standard error of the mean (hi - lo) / sqrt(12 count)
        expect(Math.abs(mean - (lo + hi) / 2)).toBeLessThan((4 * (hi - lo)) / Math.sqrt(12 * count));
      }
    }
    // one uniform per parameter, in the order h, w, c (case 1) and c1, w, h1, c2, a, h2 (case 2)
    const a = new Random(3), b = new Random(3);
    const p1 = drawAdvectionInitial(a, 1) as SquareWave;
    expect(p1).toEqual({ case: 1, h: b.uniform() + 1, w: 0.3 * b.uniform() + 0.3, c: 0.4 * b.uniform() + 0.3 });
    const p2 = drawAdvectionInitial(a, 2) as SquareWaveEllipse;
    expect(p2.c1).toBe(0.1 * b.uniform() + 0.2);
    for (const _ of [0, 1, 2, 3]) b.uniform();
    expect(p2.h2).toBe(1.5 * b.uniform() + 0.5);
    expect(a.uniform()).toBe(b.uniform());
  });

  it('rejects bad input', () => {
    expect(() => drawAdvectionInitial({} as Random)).toThrow(TypeError);
    expect(() => drawAdvectionInitial(new Random(1), 3 as 1)).toThrow(/petscml: drawAdvectionInitial: kind must be 1 or 2, got 3/);
    expect(() => drawAdvectionInitial(new Random(1), '1' as unknown as 1)).toThrow(TypeError);
  });
});

describe('advectionSolution', () => {
  it('translates u0 by t with period 1', () => {
    const p: SquareWave = { case: 1, h: 1.5, w: 0.25, c: 0.5 };
    // the support [0.375, 0.625] moves right and wraps around x = 1
    expect(advectionSolution(p, 0.5, 0)).toBe(1.5);
    expect(advectionSolution(p, 0.3, 0)).toBe(0);
    expect(advectionSolution(p, 0.9, 0.4)).toBe(1.5);
    expect(advectionSolution(p, 0.1, 0.6)).toBe(1.5);
    expect(advectionSolution(p, 0.1, 0.2)).toBe(0);
    expect(advectionSolution(p, 0.25, 1)).toBe(advectionSolution(p, 0.25, 0));
  });

  it('case 1 includes the endpoints; case 2 takes the Heaviside value 1/2 at its jumps', () => {
    // exact binary fractions put the jumps on the evaluation points
    const p1: SquareWave = { case: 1, h: 2, w: 0.25, c: 0.5 };
    expect(advectionSolution(p1, 0.375, 0)).toBe(2);
    expect(advectionSolution(p1, 0.625, 0)).toBe(2);
    expect(advectionSolution(p1, 0.875, 0.25)).toBe(2);
    const p2: SquareWaveEllipse = { case: 2, c1: 0.25, w: 0.125, h1: 1, c2: 0.75, a: 8, h2: 1 };
    expect(advectionSolution(p2, 0.1875, 0)).toBe(0.5);
    expect(advectionSolution(p2, 0.3125, 0)).toBe(0.5);
    expect(advectionSolution(p2, 0.25, 0)).toBe(1);
    // the half ellipse: h2 at c2, zero from |y - c2| = h2 / a on, with a square-root edge
    expect(advectionSolution(p2, 0.75, 0)).toBe(1);
    expect(advectionSolution(p2, 0.75 + 1 / 16, 0)).toBeCloseTo(Math.sqrt(0.75), 15);
    expect(advectionSolution(p2, 0.875, 0)).toBe(0);
  });

  it("case 2 cuts an ellipse that reaches past 1 instead of wrapping it, as the authors' code does", () => {
    // half-width h2 / a = 0.4 around 0.8: the formula is nonzero up to 1.2
    const p: SquareWaveEllipse = { case: 2, c1: 0.25, w: 0.1, h1: 1, c2: 0.8, a: 5, h2: 2 };
    expect(advectionSolution(p, 0.99, 0)).toBeCloseTo(Math.sqrt(4 - 25 * 0.19 ** 2), 12);
    expect(advectionSolution(p, 0, 0)).toBe(0);
    expect(advectionSolution(p, 1, 0)).toBe(0);
    expect(advectionSolution(p, 0.05, 0)).toBe(0);
  });

  it('rejects bad input', () => {
    expect(() => advectionSolution(undefined as never, 0, 0)).toThrow(TypeError);
    expect(() => advectionSolution({ case: 3 } as never, 0, 0)).toThrow(/p.case must be 1 or 2, got 3/);
    expect(() => advectionSolution({ case: 1, h: 1, w: 0.3, c: 0.5 }, '0' as never, 0)).toThrow(TypeError);
  });
});

describe('advection', () => {
  let one: Advection, two: Advection;
  beforeAll(() => {
    one = advection({ train: 30, test: 10, seed: 7 });
    two = advection({ case: 2, train: 30, test: 10, seed: 7 });
  });

  it('has the documented shapes, grid and parameters', () => {
    for (const d of [one, two]) {
      expect(d.train.x.shape).toEqual([30, 40]);
      expect(d.train.y.shape).toEqual([30, 1600]);
      expect(d.test.x.shape).toEqual([10, 40]);
      expect(d.test.y.shape).toEqual([10, 1600]);
      expect(d.train.y.values).toBeInstanceOf(Float32Array);
      expect(d.trainInitial).toHaveLength(30);
      expect(d.testInitial).toHaveLength(10);
      expect(d.points).toBe(40);
      expect(d.seed).toBe(7);
      expect(d.coordinates.shape).toEqual([1600, 2]);
      // DeepXDE's uniform_points: time-major, x fastest; both ends of both axes
      expect([d.x[0], d.t[0], d.x[39], d.t[39], d.x[40], d.t[40], d.x[1599], d.t[1599]]).toEqual([0, 0, 1, 0, 0, Math.fround(1 / 39), 1, 1]);
      expect(d.x[45]).toBe(Math.fround(5 / 39));
      expect(d.t[45]).toBe(Math.fround(1 / 39));
      for (let q = 0; q < 1600; q++) {
        expect(d.coordinates.values[2 * q]).toBe(d.x[q]);
        expect(d.coordinates.values[2 * q + 1]).toBe(d.t[q]);
      }
    }
    expect(one.case).toBe(1);
    expect(two.case).toBe(2);
    expect(one.trainInitial[0].case).toBe(1);
    expect(two.testInitial[0].case).toBe(2);
  });

  it('y is u0((x - t) mod 1) at the grid points, x is its t = 0 row', () => {
    for (const d of [one, two]) {
      for (const [set, initial] of [[d.train, d.trainInitial], [d.test, d.testInitial]] as const) {
        for (let s = 0; s < initial.length; s++) {
          const y = set.y.values.subarray(s * 1600, (s + 1) * 1600);
          for (let q = 0; q < 1600; q += 7) {
            expect(y[q]).toBe(Math.fround(advectionSolution(initial[s], (q % 40) / 39, Math.floor(q / 40) / 39)));
          }
          expect(set.x.values.subarray(s * 40, (s + 1) * 40)).toEqual(y.subarray(0, 40));
        }
      }
    }
    // train and test are different draws of one stream
    expect(one.testInitial[0]).toEqual(drawAdvectionInitial(replay(7, 30, 1), 1));
  });

  it('solves u_t + u_x = 0: upwind at CFL 1 (exact on this grid) reproduces every row, and u(0, t) = u(1, t)', () => {
    // dt = dx = 1/39, so first-order upwind, u_i^{n+1} = u_{i-1}^n on the 39 periodic nodes, is the
    // exact solution operator; marching it from the t = 0 row needs no formula for u.
    for (const d of [one, two]) {
      for (const set of [d.train, d.test]) {
        for (let s = 0; s < set.x.shape[0]; s++) {
          const y = set.y.values.subarray(s * 1600, (s + 1) * 1600);
          let u = Array.from(set.x.values.subarray(s * 40, s * 40 + 39));
          let mismatches = 0;
          for (let j = 1; j < 40; j++) {
            u = u.map((_, i) => u[(i + 38) % 39]);
            for (let i = 0; i < 39; i++) if (y[j * 40 + i] !== u[i]) mismatches++;
          }
          for (let j = 0; j < 40; j++) if (y[j * 40 + 39] !== y[j * 40]) mismatches++;
          expect(mismatches).toBe(0);
        }
      }
    }
  });

  it('the data show the parameters: heights, widths and the square-wave mass', () => {
    const dx = 1 / 39;
    for (let s = 0; s < 30; s++) {
      const p = one.trainInitial[s] as SquareWave;
      const u0 = one.train.x.values.subarray(s * 40, (s + 1) * 40);
      const support = Array.from(u0).filter((v) => v > 0);
      // a width >= 0.3 covers at least 11 grid points, all at height h
      expect(support.length).toBeGreaterThanOrEqual(11);
      expect(Math.abs(support.length * dx - p.w)).toBeLessThanOrEqual(dx);
      for (const v of support) expect(v).toBe(Math.fround(p.h));
    }
    for (let s = 0; s < 30; s++) {
      const p = two.trainInitial[s] as SquareWaveEllipse;
      const u0 = Array.from(two.train.x.values.subarray(s * 40, (s + 1) * 40));
      // the square wave lies in [0.1, 0.4], the ellipse in [0.3, 1.2]: below 0.3 only the square
      const left = u0.filter((_, i) => i / 39 < 0.3 && u0[i] > 0);
      for (const v of left) expect([Math.fround(p.h1), Math.fround(p.h1 / 2)]).toContain(v);
      // right of the square wave (which ends by 0.4) the peak is the ellipse's grid point nearest
      // c2, within 1/78 of it: at least sqrt(h2^2 - (10 / 78)^2) >= 0.966 h2
      const peak = Math.max(...u0.filter((_, i) => i / 39 > 0.4));
      expect(peak).toBeLessThanOrEqual(Math.fround(p.h2));
      expect(peak).toBeGreaterThan(0.96 * p.h2);
    }
  });

  it('is deterministic in the seed', () => {
    const a = advection({ case: 2, train: 3, test: 2, seed: 5 });
    const b = advection({ case: 2, train: 3, test: 2, seed: 5 });
    const c = advection({ case: 2, train: 3, test: 2, seed: 6 });
    for (const key of ['train', 'test'] as const) {
      expect(Buffer.from(b[key].y.values.buffer).equals(Buffer.from(a[key].y.values.buffer))).toBe(true);
      expect(Array.from(c[key].y.values)).not.toEqual(Array.from(a[key].y.values));
    }
    // pinned, so a change of generator or stream order is noticed
    expect(a.trainInitial[0]).toMatchObject({ c1: 0.26897749109193686, w: 0.17727432732935997, h2: 1.388247410301119 });
    expect(a.testInitial[0]).toMatchObject({ c1: 0.275529717002064, a: 8.967541229212657 });
    expect(a.train.x.values[8]).toBeCloseTo(0.8296445, 6);
    expect(a.train.x.values[30]).toBeCloseTo(1.388, 3);
    expect(advection({ train: 3, test: 2, seed: 5 }).testInitial[1]).toMatchObject({ h: 1.6605600535403937, w: 0.3041464261477813 });
  });

  it('names the option and the value in its errors', () => {
    const cases: [Record<string, unknown>, ErrorConstructor, RegExp][] = [
      [{ case: 3 }, RangeError, /case must be 1 or 2, got 3/],
      [{ case: '2' }, TypeError, /case must be 1 or 2, got "2"/],
      [{ train: 0 }, RangeError, /train must be an integer >= 1, got 0/],
      [{ test: 2.5 }, RangeError, /test must be an integer >= 1, got 2.5/],
      [{ train: '10' }, TypeError, /train must be a number, got "10"/],
      [{ points: 1 }, RangeError, /points must be an integer >= 2, got 1/],
      [{ points: 1001 }, RangeError, /points must be at most 1000.*got 1001/],
      [{ seed: NaN }, RangeError, /seed must be finite, got NaN/],
      [{ seed: 1.5 }, RangeError, /seed must be an integer, got 1.5/],
    ];
    for (const [options, type, message] of cases) {
      expect(() => advection(options)).toThrow(type);
      expect(() => advection(options)).toThrow(message);
      expect(() => advection(options)).toThrow(/^petscml: advection: /);
    }
    expect(() => advection(null as never)).toThrow(TypeError);
  });
});

/** A stream positioned after `skip` draws of the given case. */
function replay(seed: number, skip: number, kind: 1 | 2): Random {
  const rng = new Random(seed);
  for (let i = 0; i < skip; i++) drawAdvectionInitial(rng, kind);
  return rng;
}
