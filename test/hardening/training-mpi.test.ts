// Issue 10, MPI: ranks that disagree on the solver, or fail on their own, make EVERY rank throw an
// error naming the difference, within a timeout (they used to hang, print MPI_ERR_TRUNCATE or
// crash), and every rank stays usable: the last case, the same on both ranks, then trains.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const fixture = path.resolve(__dirname, '../fixtures/training-mpi.js');
const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };
const CASES = ['epochs', 'preset', 'size', 'cfg', 'params', 'one-rank-error', 'one-rank-range', 'data-nan', 'data-shape', 'precision', 'ok'];

type Line = { case: string; rank: number; error?: string; result?: { iterations: number; loss: number; type: string } };
let lines: Line[] = [];
let run: ReturnType<typeof spawnSync>;

beforeAll(() => {
  // A hang is a failure: the timeout kills mpirun and the checks below see missing lines.
  run = spawnSync('mpirun', ['-n', '2', process.execPath, fixture, ...CASES], { encoding: 'utf8', env, timeout: 90_000 });
  lines = String(run.stdout).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}, 120_000);

const on = (c: string) => [0, 1].map((r) => lines.find((l) => l.case === c && l.rank === r));

describe('under mpirun -n 2', () => {
  it('ends (no hang), every case answered on both ranks', () => {
    expect(run.error).toBeUndefined();
    expect(run.status).toBe(0);
    for (const c of CASES) expect(on(c).every((l) => l !== undefined), c).toBe(true);
    expect(String(run.stderr)).not.toMatch(/MPI_ERR|Segmentation|signal/);
  });

  it.each([
    ['epochs', /ranks disagree on epochs: rank 0 has 3, rank 1 has 30/],
    ['preset', /ranks disagree on preset: rank 0 has lbfgs, rank 1 has sgd/],
    ['size', /ranks disagree on parameter count \(fn.size\): rank 0 has 13, rank 1 has 21/],
    ['cfg', /ranks disagree on cfg: rank 0 has \{"tao_ls_max_funcs":10\}, rank 1 has \{"tao_ls_max_funcs":20\}/],
    ['params', /ranks disagree on params \(initial parameters\): rank 0 has 5 values \[0, 0, 0, ...\].*rank 1 has 5 values \[1, 1, 1, ...\]/],
  ])('%s: both ranks throw the same error naming the field and each rank\'s value', (c, message) => {
    const [a, b] = on(c);
    expect(a!.error).toMatch(message);
    expect(a!.error).toMatch(/^RankAgreementError/);
    expect(b!.error).toBe(a!.error);
  });

  it('a mistake on one rank: that rank gets its own error, the other one naming the rank and the mistake', () => {
    const [a, b] = on('one-rank-error');
    expect(b!.error).toMatch(/^TypeError: petscml: createSolver: log: expected a file path, got 5/);
    expect(a!.error).toMatch(/rank 1 failed to configure.*log: expected a file path, got 5/);
    const [c, d] = on('one-rank-range');
    expect(d!.error).toMatch(/^RangeError: .*epochs must be an integer in \[1, 2147483647\], got 4294967298/);
    expect(c!.error).toMatch(/rank 1 failed.*epochs must be an integer/);
  });

  it('bad data on one rank of a data-parallel function fails createTfjsFunction on both', () => {
    const [a, b] = on('data-nan');
    expect(b!.error).toMatch(/data x has NaN at sample 2/);
    expect(a!.error).toMatch(/createTfjsFunction: rank 1 failed.*NaN at sample 2/);
    const [c, d] = on('data-shape');
    expect(d!.error).toMatch(/y has shape \[4, 3\]/);
    expect(c!.error).toMatch(/rank 1 failed.*y has shape \[4, 3\]/);
  });

  it('a data-parallel function in float64 on one rank and float32 on the other fails on both, naming precision', () => {
    const [a, b] = on('precision');
    expect(a!.error).toMatch(/ranks disagree on precision: rank 0 has float64, rank 1 has float32/);
    expect(b!.error).toBe(a!.error);
  });

  it('afterwards both ranks still train together', () => {
    const [a, b] = on('ok');
    expect(a!.error).toBeUndefined();
    expect(a!.result).toEqual(b!.result);
    expect(a!.result!.type).toBe('lmvm');
    expect(a!.result!.loss).toBeLessThan(1e-12);
  });
});
