// The fault-injection matrix (issue 10): {throw, NaN, Promise, no write} in {objective, gradient,
// f+g, Hessian point, Hessian product, monitor, update} x {1, 2 ranks} x {lmvm, nls, ntr, bqnls,
// adam}. The fault is injected on the last rank only, at the site's second call (first, where a
// healthy solve calls it once). Wherever a faulty
// callback was called: no crash, no hang (mpirun under a timeout), no rank reports converged, every
// rank's solve throws (a NaN may instead end the solve unconverged where TAO itself handles it),
// and the next solve with healthy callbacks works. Where the type never calls that site, the run
// is the healthy one.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

const fixture = path.resolve(__dirname, '../fixtures/fault-matrix.js');
const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };

interface Outcome { calls: Record<string, number>; injected: boolean; threw: boolean; converged: boolean; reason: string | null; message: string | null; maxErr?: number }
interface Row { type: string; site: string; kind: string; faulty: Outcome; after: Outcome }
interface RankOut { rank: number; size: number; healthy: Record<string, Outcome>; results: Row[] }

describe.each([1, 2])('fault-injection matrix under mpirun -n %i', (n) => {
  it('no crash, no hang, no converged solve on a faulty callback; the next solve works', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'petscml-faults-'));
    const r = spawnSync('mpirun', ['-n', String(n), process.execPath, fixture, dir], { encoding: 'utf8', env, timeout: 240_000 });
    expect(r.error, 'mpirun was killed by the timeout: a hang').toBeUndefined();
    expect(r.status, r.stderr.slice(-3000)).toBe(0);
    const ranks: RankOut[] = fs.readdirSync(dir).map((f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'))).sort((a, b) => a.rank - b.rank);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(ranks.map((k) => k.rank)).toEqual([...Array(n).keys()]);
    for (const k of ranks) {
      for (const type of ['lmvm', 'nls', 'ntr', 'bqnls']) expect({ type, converged: k.healthy[type].converged }).toEqual({ type, converged: true });
      expect(k.healthy.adam.threw).toBe(false);
    }
    const problems: string[] = [];
    let exercised = 0;
    for (let i = 0; i < ranks[0].results.length; i++) {
      const rows = ranks.map((k) => k.results[i]);
      const { type, site, kind } = rows[0];
      const tag = `${type}/${site}/${kind}`;
      const injected = rows.some((row) => row.faulty.injected);
      for (const [rk, row] of rows.entries()) {
        if (!row.after.converged && type !== 'adam') problems.push(`${tag}: rank ${rk}: the next solve did not converge (${row.after.reason ?? row.after.message})`);
        if (row.after.threw) problems.push(`${tag}: rank ${rk}: the next solve threw: ${row.after.message}`);
        if (!injected) {
          if (row.faulty.threw || row.faulty.converged !== ranks[rk].healthy[type].converged) problems.push(`${tag}: never called, yet the run differs from the healthy one`);
          continue;
        }
        if (row.faulty.converged) problems.push(`${tag}: rank ${rk} reports converged (${row.faulty.reason}) after a faulty callback`);
        if (kind !== 'nan' && !row.faulty.threw) problems.push(`${tag}: rank ${rk} did not throw (${row.faulty.reason})`);
      }
      if (!injected) continue;
      exercised++;
      const own = rows[n - 1].faulty;
      if (kind === 'promise' && own.threw && !/Promise/.test(own.message ?? '')) problems.push(`${tag}: the error does not say the callback returned a Promise: ${own.message}`);
    }
    expect(problems).toEqual([]);
    // every site that a healthy solve of the type calls is exercised with every fault (lmvm never
    // calls Hessian products, and so on)
    const expected = ranks[0].results.filter((row) => ranks.some((k) => k.healthy[row.type].calls[row.site] > 0)).length;
    expect(exercised).toBe(expected);
    expect(exercised).toBeGreaterThan(60);
  }, 300_000);
});
