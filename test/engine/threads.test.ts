// The engine's parallel paths: kernels large enough to be split across threads (by rows, columns,
// batch items, ranges or sum blocks) against tfjs's cpu backend or a float64 reference, and bitwise
// the same whatever the thread count, since each output is computed in the same order however the
// work is split.
import { spawnSync } from 'child_process';
import { readFileSync } from 'fs';
import { availableParallelism } from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blasCore, engineThreads, initBackend, kernelReport } from '../../src';
import { native } from '../../src/native';

let seed = 11;
const rnd = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 2 ** 32; };
const data = (n: number) => Float32Array.from({ length: n }, () => rnd() * 4 - 2);
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

type Op = (...t: tf.Tensor[]) => tf.Tensor;

async function run(backend: string, inputs: { v: Float32Array; shape: number[] }[], op: Op) {
  await tf.setBackend(backend);
  return tf.tidy(() => {
    const r = op(...inputs.map((i) => tf.tensor(i.v, i.shape, 'float32')));
    return { values: r.dataSync().slice() as Float32Array, shape: r.shape };
  });
}

/** What the engine's output is checked against: values and, per element, how far it may be. */
type Reference = { want: ArrayLike<number>; tol: ArrayLike<number> | number };

/**
 * `op` on the engine with 1, 2 and 5 threads: bitwise equal, every call native, and each element
 * within the reference's tolerance. By default the reference is the cpu backend within `ulps`.
 */
async function check(what: string, shapes: number[][], op: Op, kernel: string, ref: number | ((x: Float32Array[]) => Reference)) {
  const inputs = shapes.map((shape) => ({ v: data(size(shape)), shape }));
  let r: Reference;
  if (typeof ref === 'number') {
    const cpu = (await run('cpu', inputs, op)).values;
    r = { want: cpu, tol: Float64Array.from(cpu, (w) => ref * 1.2e-7 * Math.abs(w)) };
  } else {
    r = ref(inputs.map((i) => i.v));
  }
  let first: Float32Array | undefined;
  for (const threads of [1, 2, 5]) {
    expect(engineThreads(threads)).toBe(threads);
    kernelReport({ reset: true });
    const got = (await run('petscml', inputs, op)).values;
    expect(kernelReport()[kernel]?.native, `${what}: ${kernel} native at ${threads} threads`).toBeGreaterThan(0);
    expect(got.length, what).toBe(r.want.length);
    if (!first) {
      first = got;
      for (let i = 0; i < got.length; i++) {
        const tol = typeof r.tol === 'number' ? r.tol : r.tol[i];
        if (!(Math.abs(got[i] - r.want[i]) <= tol)) expect({ what, i, got: got[i], tol }).toEqual({ what, i, got: r.want[i], tol });
      }
    } else {
      const a = new Uint32Array(first.buffer, first.byteOffset, first.length);
      const b = new Uint32Array(got.buffer, got.byteOffset, got.length);
      const i = a.findIndex((x, j) => x !== b[j]);
      expect(i, `${what}: first element that differs between 1 and ${threads} threads`).toBe(-1);
    }
  }
}

/**
 * Sums (or means) over the middle axis of [outer, mid, inner] in double. The engine adds float32
 * values in double and rounds once: within half an ulp of float32, plus double's own rounding.
 */
const sums = (outer: number, mid: number, inner: number, mean = false) => ([x]: Float32Array[]): Reference => {
  const want = new Float64Array(outer * inner), tol = new Float64Array(outer * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let s = 0, abs = 0;
      for (let m = 0; m < mid; m++) { const v = x[(o * mid + m) * inner + i]; s += v; abs += Math.abs(v); }
      want[o * inner + i] = mean ? s / mid : s;
      tol[o * inner + i] = 6e-8 * Math.abs(want[o * inner + i]) + 1e-12 * abs;
    }
  }
  return { want, tol };
};

/**
 * op(A) op(B) in double for batches of row-major matrices (a batch of 1 broadcast). A float32
 * product of length k is within k u sum |a||b| of it (u = 2^-24; the bound doubled).
 */
const products = (batch: number, m: number, n: number, k: number, ta = false, tb = false, ba = batch, bb = batch) =>
  ([a, b]: Float32Array[]): Reference => {
    const want = new Float64Array(batch * m * n), tol = new Float64Array(batch * m * n);
    for (let t = 0; t < batch; t++) {
      const A = (ba === 1 ? 0 : t) * m * k, B = (bb === 1 ? 0 : t) * k * n;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let s = 0, abs = 0;
          for (let l = 0; l < k; l++) {
            const p = a[A + (ta ? l * m + i : i * k + l)] * b[B + (tb ? j * k + l : l * n + j)];
            s += p; abs += Math.abs(p);
          }
          want[(t * m + i) * n + j] = s;
          tol[(t * m + i) * n + j] = 2 * k * 6e-8 * abs + 6e-8 * Math.abs(s);
        }
      }
    }
    return { want, tol };
  };

let initial = 1;
beforeAll(async () => {
  await initBackend({ backend: 'petscml', quiet: true });
  initial = engineThreads();
});
afterAll(() => {
  engineThreads(initial);
});

describe('engineThreads', () => {
  it('sets and reports the count, and refuses counts that are not whole numbers >= 1', () => {
    expect(engineThreads(3)).toBe(3);
    expect(engineThreads()).toBe(3);
    for (const bad of [0, -1, 1.5, NaN, Infinity, '2' as unknown as number]) {
      expect(() => engineThreads(bad), String(bad)).toThrow(/whole number >= 1/);
    }
    expect(engineThreads()).toBe(3);
    expect(engineThreads(1000)).toBe(64);
  });
});

describe('the starting count', () => {
  const root = path.resolve(__dirname, '../..');
  const counts = (n: number, extra: Record<string, string>, mpi: string[] = []) => {
    const env: NodeJS.ProcessEnv = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
      OMPI_MCA_rmaps_base_oversubscribe: '1', ...extra };
    for (const v of ['PETSCML_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS']) if (!(v in extra)) delete env[v];
    const r = spawnSync('mpirun', [...mpi, '-n', String(n), process.execPath, '-e',
      "process.stdout.write(`${require('./dist').engineThreads()} ${require('os').availableParallelism()}\\n`)"],
    { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.trim().split('\n').map((l) => l.split(' ').map(Number));
  };
  // The CPUs a rank may run on are what Open MPI bound it to (a core each for 2 ranks, by default).
  it('the ranks under mpirun share the CPUs they may run on; a count the user set is kept', () => {
    for (const [n, mpi] of [[1, []], [2, []], [2, ['--bind-to', 'none']]] as [number, string[]][]) {
      const ranks = counts(n, {}, mpi);
      expect(ranks.length).toBe(n);
      for (const [threads, cpus] of ranks) expect(threads, `${mpi.join(' ')} -n ${n}`).toBe(Math.max(1, Math.floor(cpus / n)));
    }
    expect(counts(2, { PETSCML_NUM_THREADS: '3' }).map(([t]) => t)).toEqual([3, 3]);
    expect(counts(1, { OMP_NUM_THREADS: '2', PETSCML_NUM_THREADS: 'x' }).map(([t]) => t)).toEqual([2]);
  });
  it('under an address-space limit, where OpenBLAS is started on one thread, the engine still uses the CPUs', () => {
    const env = { ...process.env };
    for (const v of ['PETSCML_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS']) delete env[v];
    const r = spawnSync('bash', ['-c', `ulimit -v 4000000 && exec "${process.execPath}" -e "console.log(require('./dist').engineThreads(), process.env.OPENBLAS_NUM_THREADS)"`],
      { cwd: root, env, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`${availableParallelism()} undefined`);
  });
});

describe('the BLAS behind the products', () => {
  it('names the OpenBLAS kernel family it runs: the one OPENBLAS_CORETYPE selects, none for another BLAS', async () => {
    await initBackend({ backend: 'petscml', quiet: true });
    const openblasMapped = readFileSync('/proc/self/maps', 'utf8').includes('libopenblas');
    const core = blasCore();
    if (!openblasMapped) { expect(core).toBeNull(); return; }
    expect(core).toMatch(/^[A-Za-z0-9]+$/);
    const flags = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m)?.[1].split(/\s+/) ?? [];
    const families = [flags.includes('avx') && 'Sandybridge', flags.includes('avx2') && flags.includes('fma') && 'Haswell'].filter(Boolean);
    expect(families.length).toBeGreaterThan(0);
    for (const family of families) {
      const r = spawnSync(process.execPath, ['-e', "const p = require('./dist'); p.initBackend({ backend: 'petscml', quiet: true }).then(() => console.log(p.blasCore()))"],
        { cwd: path.resolve(__dirname, '../..'), env: { ...process.env, OPENBLAS_CORETYPE: String(family) }, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(family);
    }
  });
});

describe('split kernels are right and do not depend on the thread count', () => {
  it('unary kernels over ranges (lengths that are not multiples of the split alignment)', async () => {
    await check('tanh', [[300, 257]], (x) => tf.tanh(x), 'Tanh', 4);
    await check('exp', [[70001]], (x) => tf.exp(x), 'Exp', 2);
    await check('square', [[65, 1001]], (x) => tf.square(x), 'Square', 0);
  });
  it('binary kernels split by rows, and by inner columns when there are few rows, with broadcasts', async () => {
    await check('add equal', [[300, 257], [300, 257]], (a, b) => tf.add(a, b), 'Add', 0);
    await check('mul row broadcast', [[300, 257], [257]], (a, b) => tf.mul(a, b), 'Multiply', 0);
    await check('sub column broadcast', [[300, 257], [300, 1]], (a, b) => tf.sub(a, b), 'Sub', 0);
    await check('div mutual broadcast', [[300, 1], [1, 257]], (a, b) => tf.div(a, b), 'RealDiv', 1);
    await check('add few rows', [[2, 40000], [2, 1]], (a, b) => tf.add(a, b), 'Add', 0);
    await check('mul rank 3', [[3, 170, 65], [170, 1]], (a, b) => tf.mul(a, b), 'Multiply', 0);
  });
  it('reductions split by rows, by columns, and whole sums in blocks', async () => {
    await check('sum rows', [[300, 257]], (x) => tf.sum(x, 1), 'Sum', sums(300, 257, 1));
    await check('sum columns', [[300, 257]], (x) => tf.sum(x, 0), 'Sum', sums(1, 300, 257));
    await check('sum all', [[70001]], (x) => tf.sum(x), 'Sum', sums(1, 70001, 1));
    await check('mean of long rows', [[3, 50000]], (x) => tf.mean(x, 1), 'Mean', sums(3, 50000, 1, true));
    await check('mean all 2-D', [[1000, 64]], (x) => tf.mean(x), 'Mean', sums(1, 64000, 1, true));
    await check('sum middle axis', [[4, 1000, 17]], (x) => tf.sum(x, 1), 'Sum', sums(4, 1000, 17));
    await check('max columns', [[200, 300]], (x) => tf.max(x, 0), 'Max', 0);
    await check('min rows', [[300, 200]], (x) => tf.min(x, 1), 'Min', 0);
  });
  it('matrix products split by rows and by batch items, transposed or not; few rows stay whole', async () => {
    await check('rows', [[300, 200], [200, 130]], (a, b) => tf.matMul(a, b), 'BatchMatMul', products(1, 300, 130, 200));
    await check('rows, few of them', [[64, 1000], [1000, 256]], (a, b) => tf.matMul(a, b), 'BatchMatMul', products(1, 64, 256, 1000));
    await check('rows, many columns', [[517, 300], [300, 700]], (a, b) => tf.matMul(a, b), 'BatchMatMul', products(1, 517, 700, 300));
    await check('few rows', [[20, 500], [500, 700]], (a, b) => tf.matMul(a, b), 'BatchMatMul', products(1, 20, 700, 500));
    await check('rows, A transposed', [[200, 300], [200, 130]], (a, b) => tf.matMul(a, b, true, false), 'BatchMatMul',
      products(1, 300, 130, 200, true));
    await check('few rows, B transposed', [[20, 500], [700, 500]], (a, b) => tf.matMul(a, b, false, true), 'BatchMatMul',
      products(1, 20, 700, 500, false, true));
    await check('both transposed', [[257, 301], [129, 257]], (a, b) => tf.matMul(a, b, true, true), 'BatchMatMul',
      products(1, 301, 129, 257, true, true));
    await check('batch', [[6, 100, 90], [6, 90, 110]], (a, b) => tf.matMul(a, b), 'BatchMatMul', products(6, 100, 110, 90));
    await check('batch of 2, B broadcast', [[2, 300, 64], [64, 200]], (a, b) => tf.matMul(a, b), 'BatchMatMul',
      products(2, 300, 200, 64, false, false, 2, 1));
    await check('k = 0', [[2000, 0], [0, 1500]], (a, b) => tf.matMul(a, b), 'BatchMatMul', products(1, 2000, 1500, 0));
  });
  it('float64 products and sums too (dgemm blocks its rows as sgemm does)', () => {
    const e = native().engine;
    const [m, n, k] = [517, 300, 190];
    const a = Float64Array.from({ length: m * k }, () => rnd() - 0.5), b = Float64Array.from({ length: k * n }, () => rnd() - 0.5);
    const out: Float64Array[] = [];
    for (const threads of [1, 2, 5]) {
      engineThreads(threads);
      const c = new Float64Array(m * n), s = new Float64Array(1);
      e.matmul(a, b, c, 1, 1, m, n, k, false, false);
      e.reduce(0, c, s, 1, m * n, 1);
      out.push(c, s);
    }
    for (let i = 2; i < out.length; i++) expect(out[i], `threads case ${i >> 1}`).toEqual(out[i % 2]);
    let want = 0;
    for (let l = 0; l < k; l++) want += a[5 * k + l] * b[l * n + 7];
    expect(Math.abs(out[0][5 * n + 7] - want)).toBeLessThan(1e-12);
  });
});
