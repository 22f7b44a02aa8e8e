import { spawnSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

// bench/parity.js runs the same TAO problems through petscml and petsc4py (/usr/bin/python3) with
// the same options, starting points and summation order.
describe('parity with petsc4py', () => {
  it('gives the same iteration, evaluation and Hessian-product counts for every TAO run', () => {
    const r = spawnSync(process.execPath, [path.resolve(__dirname, '../bench/parity.js'), '--json'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(report.shiftResetPerHessian).toBe(true);
    expect(report.rows.length).toBeGreaterThanOrEqual(30);
    const differing = report.rows.filter((row: { countsEqual: boolean }) => !row.countsEqual);
    expect(differing).toEqual([]);
    expect(report.ok).toBe(true);
    expect(r.status).toBe(0);
  });
});
