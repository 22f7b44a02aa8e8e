/**
 * The first-order types on a distributed Vec: examples/rosenbrock.js (each rank owns a block of x,
 * the objective is summed over ranks) under mpirun -n 1 and 2. The steps are elementwise on each
 * rank's block, so the iterates are the same on any number of ranks, bit for bit, and so are the
 * counts and |x - 1|_inf (a max). f is a sum of the ranks' shares, added in another grouping on 2
 * ranks: it may round to the other side of the printed 4 digits, so it is compared to one unit of
 * the last printed digit rather than as text.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';

const example = path.resolve(__dirname, '../../examples/rosenbrock.js');
const env = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', OMPI_MCA_rmaps_base_oversubscribe: '1' };

function run(n: number, args: string[]): string {
  const r = spawnSync('mpirun', ['-n', String(n), process.execPath, example, ...args], { encoding: 'utf8', env, timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n')[0];
}

describe('first-order types under mpirun', () => {
  it.each([
    ['adam', ['-tao_adam_lr', '0.002']],
    ['sgd', ['-tao_sgd_lr', '0.002', '-tao_sgd_nesterov']],
  ])('%s gives the same result on 1 and 2 ranks', (type, extra) => {
    const args = ['-tao_type', type, '-tao_max_it', '300', ...extra];
    const one = run(1, args);
    expect(one).toMatch(new RegExp(`^${type}: DIVERGED_MAXITS after 300 iterations, f = `));
    const two = run(2, args);
    const f = (line: string) => Number(/f = (\S+),/.exec(line)![1]);
    const rest = (line: string) => line.replace(/f = \S+,/, 'f = _,');
    expect(rest(two)).toBe(rest(one));
    expect(Math.abs(f(two) - f(one))).toBeLessThanOrEqual(1.0001e-3 * Math.abs(f(one)));
  });
});
