import { describe, expect, it } from 'vitest';
import { comm, Vec } from '../../src';

describe('Vec', () => {
  it('initializes PETSc on first use with one rank', () => {
    expect(comm()).toEqual({ rank: 0, size: 1 });
  });

  it('creates sequential vectors and reports sizes', () => {
    const v = Vec.create(5);
    expect(v.size).toBe(5);
    expect(v.localSize).toBe(5);
    expect(v.ownershipRange).toEqual([0, 5]);
    const w = Vec.create({ local: 3, comm: 'world' });
    expect(w.size).toBe(3);
  });

  it('copies values in and out', () => {
    const v = Vec.fromArray([1, 2, 3]);
    expect(Array.from(v.toArray())).toEqual([1, 2, 3]);
    v.setArray(new Float64Array([4, 5, 6]));
    expect(Array.from(v.toArray())).toEqual([4, 5, 6]);
    v.setValues([0, 2], [10, 30]);
    expect(Array.from(v.getValues([0, 1, 2]))).toEqual([10, 5, 30]);
    v.setValues([1], [1], 'add');
    expect(v.getValues([1])[0]).toBe(6);
    v.set(7);
    expect(Array.from(v.toArray())).toEqual([7, 7, 7]);
  });

  it('does the algebra solvers need', () => {
    const x = Vec.fromArray([3, 4]);
    const y = Vec.fromArray([1, 1]);
    expect(x.norm()).toBe(5);
    expect(x.norm('1')).toBe(7);
    expect(x.norm('inf')).toBe(4);
    expect(x.dot(y)).toBe(7);
    expect(x.sum()).toBe(7);
    const z = x.copy();
    z.axpy(2, y); // z = x + 2y
    expect(Array.from(z.toArray())).toEqual([5, 6]);
    z.aypx(-1, y); // z = y - z
    expect(Array.from(z.toArray())).toEqual([-4, -5]);
    z.scale(-0.5);
    expect(Array.from(z.toArray())).toEqual([2, 2.5]);
    const d = x.duplicate();
    expect(d.size).toBe(2);
    x.copy(d);
    expect(Array.from(d.toArray())).toEqual([3, 4]);
    expect(Array.from(x.gatherAll())).toEqual([3, 4]);
  });

  it('gives zero-copy views that are detached when withArray returns', () => {
    const v = Vec.create(4).set(1);
    let kept: Float64Array | undefined;
    const s = v.withArray((a) => {
      a[2] = 42; // writes reach PETSc's memory
      kept = a;
      return a.length;
    });
    expect(s).toBe(4);
    expect(v.toArray()[2]).toBe(42);
    expect(kept!.length).toBe(0);
    expect(kept![0]).toBeUndefined();
  });

  it('rejects bad input with clear errors', () => {
    const v = Vec.create(3);
    expect(() => v.setArray([1, 2])).toThrow(/expected 3 values \(the local size\), got 2/);
    expect(() => v.setValues([0, 3], [1, 2])).toThrow(/expected an integer in \[0, 3\), got 3/);
    expect(() => v.setValues([0], [1, 2])).toThrow(/1 indices but 2 values/);
    expect(() => v.setArray(['a' as unknown as number])).toThrow(/a number, got "a"/);
    expect(() => v.dot({} as Vec)).toThrow(/Vec.dot: expected a Vec, got an object/);
    expect(() => v.axpy(NaN, v)).toThrow(/finite number, got NaN/);
    expect(() => Vec.create(-1)).toThrow(/Vec\.create: global size: expected an integer in \[0, 2147483647\], got -1/);
    expect(() => Vec.create(2.5)).toThrow(/Vec\.create: global size: expected an integer in \[0, 2147483647\], got 2.5/);
    expect(() => v.norm('fro' as '2')).toThrow(/'1', '2' or 'inf'/);
    expect(() => v.withArray(42 as unknown as () => void)).toThrow(/a function, got 42/);
  });

  it('refuses use after destroy', () => {
    const v = Vec.create(2);
    v.destroy();
    expect(v.destroyed).toBe(true);
    expect(() => v.norm()).toThrow(/this Vec has been destroyed/);
    expect(() => Vec.create(2).copy(v)).toThrow(/this Vec has been destroyed/);
    v.destroy(); // twice is harmless
  });
});
