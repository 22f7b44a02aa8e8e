import { describe, expect, it } from 'vitest';
import { KSP, Options, ShellMat, Tao, Vec } from '../../src';
import { native } from '../../src/native';
import { rosenbrockFG } from '../support/rosenbrock';

describe('zero-copy views', () => {
  it('see PETSc’s memory during the callback and are detached after the solve', () => {
    const x = Vec.create(4).set(0);
    const tao = new Tao({ type: 'lmvm' });
    let keptX: Float64Array | undefined;
    let keptG: Float64Array | undefined;
    let lengthsDuring: number[] = [];
    tao.setObjectiveAndGradient((p, g) => {
      if (keptX) lengthsDuring = [keptX.length, keptG!.length]; // still backed by live vectors
      keptX = p;
      keptG = g;
      return rosenbrockFG(p, g);
    });
    tao.setSolution(x);
    tao.solve();
    expect(lengthsDuring).toEqual([4, 4]);
    expect(keptX!.length).toBe(0);
    expect(keptG!.length).toBe(0);
    expect(keptX![0]).toBeUndefined();
    expect(keptX!.byteLength).toBe(0);
  });

  it('write straight into PETSc’s vectors (no copy back)', () => {
    const A = new ShellMat({ size: 3, mult: (v, y) => { for (let i = 0; i < 3; i++) y[i] = (i + 1) * v[i]; } });
    const x = Vec.fromArray([1, 1, 1]);
    const y = Vec.create(3);
    A.mult(x, y);
    expect(Array.from(y.toArray())).toEqual([1, 2, 3]);
  });

  it('are detached when a solve ends in an exception too', () => {
    let kept: Float64Array | undefined;
    const A = new ShellMat({ size: 3, mult: (v) => { kept = v; throw new Error('stop'); } });
    expect(() => A.mult(Vec.create(3), Vec.create(3))).toThrow('stop');
    expect(kept!.length).toBe(0);
  });

  // PLATFORM.md: a fresh external ArrayBuffer per callback holds ~416 B until the event loop turns
  // (1e6 callbacks: ~400 MB). Views cached per Vec keep one synchronous solve flat.
  it('keep memory flat over one synchronous solve of a million callbacks', () => {
    const n = 8;
    const calls = 1_000_000;
    let count = 0;
    let heapEarly = 0;
    let heapLate = 0;
    const A = new ShellMat({
      size: n,
      mult: (v, y) => {
        count++;
        // The C heap, not RSS: RSS also follows the JS heap's garbage, which depends on when V8
        // collects and so on the machine's load; the views' residue is on the C heap.
        if (count === 10_000) heapEarly = native().nativeMemory().heapInUse!;
        if (count === calls) heapLate = native().nativeMemory().heapInUse!;
        for (let i = 0; i < n; i++) y[i] = 0.5 * v[i];
      },
    });
    // x <- x + 1e-7 (b - A x): the residual shrinks by 1 - 5e-8 a step, never to exactly zero.
    new Options('flat_').set('ksp_richardson_scale', 1e-7);
    const ksp = new KSP({ type: 'richardson', prefix: 'flat_' });
    ksp.setFromOptions();
    ksp.setOperators(A);
    ksp.pc.type = 'none';
    ksp.setTolerances({ rtol: 0, atol: 0, divtol: 1e300, maxIts: calls });
    const b = Vec.create(n).set(1);
    const x = Vec.create(n);
    ksp.solve(b, x);
    expect(count).toBeGreaterThanOrEqual(calls);
    expect(heapLate - heapEarly).toBeLessThan(4 * 1024 * 1024); // a view per callback: ~400 MB
  });
});
