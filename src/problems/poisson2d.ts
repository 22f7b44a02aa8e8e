/**
 * The 2-D Poisson case of GreenLearning (Boullé, Halikias, Townsend, PNAS 2023; PETScML §4.3):
 * learn the forcing-to-solution operator
 *
 *   f -> u  for  -Delta u = f  on [0, 1]^2,  u = 0 on the boundary.
 *
 * The authors' data (Zenodo 7701683) are not shipped; this generator follows the simplified recipe
 * of shared/reference/CASES.md §6.8, seeded and deterministic:
 *
 * - forcings: the cosine (Neumann) Gaussian random field of the authors' `GRF.m`,
 *   f(x, y) = sum_{(k1, k2) != 0} tau^(alpha-1) (pi^2 (k1^2 + k2^2) + tau^2)^(-alpha/2) xi_k phi_k1(x) phi_k2(y),
 *   phi_0 = 1, phi_k = sqrt(2) cos(pi k x), xi_k iid N(0, 1), i.e. N(0, tau^(2(alpha-1)) (-Delta_N + tau^2)^(-alpha))
 *   without its mean mode; alpha = 2, tau = 3. `GRF.m` returns this field's values at cell
 *   centres (its `idct2`); here the same series is evaluated at the vertices;
 * - solve: the 5-point Laplacian with zero Dirichlet values, -Delta_h u = f on the interior of the
 *   vertex grid x_i = i / (n - 1), diagonalised by the type-I discrete sine transform, which is
 *   computed from the FFT (fft.js) of the odd extension;
 * - output: f and u on the s x s vertex grid, subsampled from the n x n simulation grid.
 *
 * Not bit-compatible with the authors' files: they solve on 421 x 421 after a spline round trip
 * between cell centres and vertices, store the solution transposed and subsample to 29 x 29.
 */

import FFT from 'fft.js';
import { Random, type ArrayDataset } from './darcy1d';
import { checkObject, fail, integerOption, numberOption, positiveOption, show } from './options';

/** Parameters of the cosine random field. */
export interface CosineFieldOptions {
  /** Smoothness exponent alpha (default 2). */
  alpha?: number;
  /** Inverse length scale tau (default 3). */
  tau?: number;
  /**
   * Modes per axis, k = 0..modes-1 (default 64). The authors keep 421; the variance their
   * higher modes add is 2e-4 of the total at alpha = 2, tau = 3, far below sampling noise.
   */
  modes?: number;
}

function fieldParameters(where: string, o: CosineFieldOptions) {
  const modes = integerOption(where, 'modes', o.modes, 64, 1);
  if (modes > 1024) fail(where, `modes must be at most 1024 (modes^2 normals per sample), got ${modes}`);
  return {
    alpha: positiveOption(where, 'alpha', o.alpha, 2),
    tau: positiveOption(where, 'tau', o.tau, 3),
    modes,
  };
}

/** Holds the coefficients and the cosine table of one grid, so one instance serves a whole data set. */
class CosineField {
  private readonly n: number;
  private readonly K: number;
  /** tau^(alpha-1) (pi^2 |k|^2 + tau^2)^(-alpha/2), K x K, zero at k = 0. */
  private readonly coef: Float64Array;
  /** phi_k(x_i) at [k * n + i]. */
  private readonly phi: Float64Array;
  private readonly scaled: Float64Array;
  private readonly half: Float64Array;

  constructor(points: Float64Array, p: { alpha: number; tau: number; modes: number }) {
    const n = (this.n = points.length);
    const K = (this.K = p.modes);
    this.coef = new Float64Array(K * K);
    for (let k1 = 0; k1 < K; k1++) {
      for (let k2 = 0; k2 < K; k2++) {
        if (k1 === 0 && k2 === 0) continue;
        this.coef[k1 * K + k2] = Math.pow(p.tau, p.alpha - 1) * Math.pow(Math.PI ** 2 * (k1 * k1 + k2 * k2) + p.tau * p.tau, -p.alpha / 2);
      }
    }
    this.phi = new Float64Array(K * n);
    for (let k = 0; k < K; k++) {
      for (let i = 0; i < n; i++) this.phi[k * n + i] = k === 0 ? 1 : Math.SQRT2 * Math.cos(Math.PI * k * points[i]);
    }
    this.scaled = new Float64Array(K * K);
    this.half = new Float64Array(K * n);
  }

  /** Consumes modes^2 normals, xi_{k1 k2} with k2 fastest (xi_00 too, then dropped, as GRF.m does). */
  sample(rng: Random, out: Float64Array): void {
    const { n, K, coef, phi, scaled, half } = this;
    for (let q = 0; q < K * K; q++) scaled[q] = coef[q] * rng.normal();
    // half[k1][j] = sum_k2 scaled[k1][k2] phi_k2(y_j), then out[i][j] = sum_k1 phi_k1(x_i) half[k1][j]
    half.fill(0);
    for (let k1 = 0; k1 < K; k1++) {
      for (let k2 = 0; k2 < K; k2++) {
        const c = scaled[k1 * K + k2];
        if (c === 0) continue;
        const row = k2 * n;
        for (let j = 0; j < n; j++) half[k1 * n + j] += c * phi[row + j];
      }
    }
    out.fill(0, 0, n * n);
    for (let k1 = 0; k1 < K; k1++) {
      for (let i = 0; i < n; i++) {
        const w = phi[k1 * n + i];
        for (let j = 0; j < n; j++) out[i * n + j] += w * half[k1 * n + j];
      }
    }
  }
}

/**
 * Draws one forcing from the cosine random field at the points (x_i, y_j) of `points` x `points`,
 * row-major (f(x_i, y_j) at [i * n + j]). Its pointwise variance is
 * sum_{k != 0} tau^(2(alpha-1)) (pi^2 |k|^2 + tau^2)^(-alpha) phi_k1(x)^2 phi_k2(y)^2.
 * Consumes modes^2 normals of `rng`.
 */
export function sampleCosineField(rng: Random, points: Float64Array, options?: CosineFieldOptions): Float64Array {
  const where = 'sampleCosineField';
  if (!(rng instanceof Random)) throw new TypeError(`petscml: ${where}: rng must be a Random, got ${show(rng)}`);
  if (!(points instanceof Float64Array)) throw new TypeError(`petscml: ${where}: points must be a Float64Array, got ${show(points)}`);
  if (points.length < 1) fail(where, 'points must not be empty');
  checkObject(where, 'options', options);
  const out = new Float64Array(points.length * points.length);
  new CosineField(points, fieldParameters(where, options ?? {})).sample(rng, out);
  return out;
}

/**
 * The DFT of a real sequence of any length L >= 2 with fft.js, which only has power-of-two sizes:
 * directly when L is one, otherwise by Bluestein's chirp-z identity
 * jk = (j^2 + k^2 - (k - j)^2) / 2, which turns the length-L DFT into a circular convolution of
 * a power-of-two length M >= 2L - 1.
 */
class RealDft {
  private readonly L: number;
  private readonly direct: boolean;
  private readonly fft: FFT;
  private readonly input: Float64Array;
  private readonly output: Float64Array;
  /** Bluestein: the chirp w_m = exp(i pi m^2 / L), m < L, and the FFT of its circular extension. */
  private readonly chirp?: Float64Array;
  private readonly chirpSpectrum?: Float64Array;
  private readonly work?: Float64Array;

  constructor(L: number) {
    this.L = L;
    this.direct = (L & (L - 1)) === 0;
    let M = L;
    if (!this.direct) {
      M = 1;
      while (M < 2 * L - 1) M *= 2;
    }
    this.fft = new FFT(M);
    this.input = new Float64Array(2 * M);
    this.output = new Float64Array(2 * M);
    if (!this.direct) {
      const chirp = (this.chirp = new Float64Array(2 * L));
      for (let m = 0; m < L; m++) {
        // m^2 mod 2L keeps the angle exact for large m
        const angle = (Math.PI * ((m * m) % (2 * L))) / L;
        chirp[2 * m] = Math.cos(angle);
        chirp[2 * m + 1] = Math.sin(angle);
      }
      const b = new Float64Array(2 * M);
      for (let m = 0; m < L; m++) {
        b[2 * m] = chirp[2 * m];
        b[2 * m + 1] = chirp[2 * m + 1];
        if (m > 0) {
          b[2 * (M - m)] = chirp[2 * m];
          b[2 * (M - m) + 1] = chirp[2 * m + 1];
        }
      }
      this.chirpSpectrum = new Float64Array(2 * M);
      this.fft.transform(this.chirpSpectrum, b);
      this.work = new Float64Array(2 * M);
    }
  }

  /** Writes the imaginary parts of X_k, k = 1..count, of the real sequence x (length L) to out. */
  imaginary(x: Float64Array, out: Float64Array, count: number): void {
    const { L, input, output, fft } = this;
    input.fill(0);
    if (this.direct) {
      for (let j = 0; j < L; j++) input[2 * j] = x[j];
      fft.transform(output, input);
      for (let k = 1; k <= count; k++) out[k - 1] = output[2 * k + 1];
      return;
    }
    const chirp = this.chirp!, B = this.chirpSpectrum!, work = this.work!;
    // a_j = x_j conj(w_j)
    for (let j = 0; j < L; j++) {
      input[2 * j] = x[j] * chirp[2 * j];
      input[2 * j + 1] = -x[j] * chirp[2 * j + 1];
    }
    fft.transform(output, input);
    const M = fft.size;
    for (let q = 0; q < M; q++) {
      const ar = output[2 * q], ai = output[2 * q + 1], br = B[2 * q], bi = B[2 * q + 1];
      work[2 * q] = ar * br - ai * bi;
      work[2 * q + 1] = ar * bi + ai * br;
    }
    fft.inverseTransform(output, work);
    // X_k = conj(w_k) (a * w)_k
    for (let k = 1; k <= count; k++) {
      const cr = output[2 * k], ci = output[2 * k + 1];
      out[k - 1] = ci * chirp[2 * k] - cr * chirp[2 * k + 1];
    }
  }
}

/**
 * -Delta_h on the interior of an n x n vertex grid, diagonalised by the type-I DST: holds the
 * transform and the eigenvalues, so one instance serves a whole data set.
 */
class PoissonDst {
  private readonly n: number;
  private readonly N: number;
  private readonly dft: RealDft;
  private readonly eigen: Float64Array;
  private readonly grid: Float64Array;
  private readonly extension: Float64Array;
  private readonly line: Float64Array;

  constructor(n: number) {
    this.n = n;
    const N = (this.N = n - 2);
    this.dft = new RealDft(2 * (n - 1));
    const h = 1 / (n - 1);
    const s = new Float64Array(N);
    for (let k = 1; k <= N; k++) s[k - 1] = Math.sin((Math.PI * k) / (2 * (n - 1))) ** 2;
    this.eigen = new Float64Array(N * N);
    for (let k = 0; k < N; k++) for (let l = 0; l < N; l++) this.eigen[k * N + l] = (4 / (h * h)) * (s[k] + s[l]);
    this.grid = new Float64Array(N * N);
    this.extension = new Float64Array(2 * (n - 1));
    this.line = new Float64Array(N);
  }

  /**
   * S_k = sum_{j=1}^{N} v_j sin(pi j k / (N + 1)) along rows (stride 1) or columns (stride N) of
   * grid, in place. The odd extension [0, v, 0, -reverse(v)] has DFT -2i S_k.
   */
  private sine(stride: number, step: number): void {
    const { N, grid, extension, line } = this;
    for (let r = 0; r < N; r++) {
      const base = r * step;
      extension.fill(0);
      for (let j = 0; j < N; j++) {
        const v = grid[base + j * stride];
        extension[j + 1] = v;
        extension[2 * (N + 1) - j - 1] = -v;
      }
      this.dft.imaginary(extension, line, N);
      for (let k = 0; k < N; k++) grid[base + k * stride] = -0.5 * line[k];
    }
  }

  /** u = (-Delta_h)^{-1} f on the interior, zero on the boundary; f's boundary values are not used. */
  solve(f: Float64Array, u: Float64Array): void {
    const { n, N, grid, eigen } = this;
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) grid[i * N + j] = f[(i + 1) * n + j + 1];
    this.sine(1, N);
    this.sine(N, 1);
    // the DST-I is its own inverse up to 2 / (N + 1) per axis
    const scale = (2 / (N + 1)) ** 2;
    for (let q = 0; q < N * N; q++) grid[q] *= scale / eigen[q];
    this.sine(1, N);
    this.sine(N, 1);
    u.fill(0, 0, n * n);
    for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) u[(i + 1) * n + j + 1] = grid[i * N + j];
  }
}

/**
 * Solves the 5-point discrete Poisson problem -Delta_h u = f, u = 0 on the boundary, on the n x n
 * vertex grid x_i = i / (n - 1) of [0, 1]^2, by the type-I discrete sine transform (exact up to
 * round-off; fft.js of the odd extension, through Bluestein's algorithm when 2 (n - 1) is not a
 * power of two). O(n^2 log n).
 *
 * @param f values on the whole grid, row-major (f(x_i, y_j) at [i * n + j]); the boundary values
 * are not used.
 * @returns u on the same grid, with zeros on the boundary.
 */
export function solvePoisson2d(f: Float64Array, n: number): Float64Array {
  const where = 'solvePoisson2d';
  if (!(f instanceof Float64Array)) throw new TypeError(`petscml: ${where}: f must be a Float64Array, got ${show(f)}`);
  if (typeof n !== 'number') throw new TypeError(`petscml: ${where}: n must be a number, got ${show(n)}`);
  const size = integerOption(where, 'n', n, 3, 3);
  if (size > 8193) fail(where, `n must be at most 8193, got ${size}`);
  if (f.length !== size * size) fail(where, `f must have n^2 = ${size * size} values, got ${f.length}`);
  const u = new Float64Array(size * size);
  new PoissonDst(size).solve(f, u);
  return u;
}

export interface Poisson2dOptions extends CosineFieldOptions {
  /** Training samples (default 100). */
  train?: number;
  /** Test samples (default 50). */
  test?: number;
  /** Output resolution s: the vertex grid i / (s - 1), boundary included (default 10, at least 3). */
  resolution?: number;
  /**
   * Simulation resolution n: the vertex grid the equation is solved on, subsampled to s;
   * (n - 1) must be a multiple of (s - 1) (default s).
   */
  simulationResolution?: number;
  /** Seed of the one random stream that draws the training samples, then the test samples (default 1234). */
  seed?: number;
}

/** The generated data set and the parameters that made it. */
export interface Poisson2d {
  /** x = f on the s x s grid, y = u on the s x s grid, both [train, s * s], row-major (i * s + j). */
  train: ArrayDataset;
  /** Same layout, [test, s * s]. */
  test: ArrayDataset;
  /** i / (s - 1), i = 0..s-1: the coordinates of both axes. */
  grid: Float32Array;
  resolution: number;
  simulationResolution: number;
  alpha: number;
  tau: number;
  modes: number;
  seed: number;
}

/**
 * Generates the Poisson data set: `train` samples, then `test` samples, from one stream seeded by
 * `seed` (same options, same bytes). Each forcing is drawn on the n x n simulation grid
 * (`sampleCosineField`), solved (`solvePoisson2d`), and both are subsampled to s x s.
 *
 * Cost: 0.15-0.2 s at the defaults; 0.5 s with n = 28; 10 s for 1200 samples at s = 29, n = 57.
 *
 * @throws TypeError for an option of the wrong type, RangeError for a value out of range (the
 * message names the option and the value).
 */
export function poisson2d(options: Poisson2dOptions = {}): Poisson2d {
  const where = 'poisson2d';
  checkObject(where, 'options', options);
  const train = integerOption(where, 'train', options.train, 100, 1);
  const test = integerOption(where, 'test', options.test, 50, 1);
  const s = integerOption(where, 'resolution', options.resolution, 10, 3);
  const n = integerOption(where, 'simulationResolution', options.simulationResolution, s, 3);
  if (n > 1025) fail(where, `simulationResolution must be at most 1025, got ${n}`);
  if (n < s || (n - 1) % (s - 1) !== 0) {
    fail(where, `simulationResolution - 1 must be a multiple of resolution - 1, got simulationResolution = ${n}, resolution = ${s}`);
  }
  const field = fieldParameters(where, options);
  const seed = numberOption(where, 'seed', options.seed, 1234);
  if (!Number.isSafeInteger(seed)) fail(where, `seed must be an integer, got ${seed}`);

  const points = new Float64Array(n);
  for (let i = 0; i < n; i++) points[i] = i / (n - 1);
  const stride = (n - 1) / (s - 1);
  const sampler = new CosineField(points, field);
  const solver = new PoissonDst(n);
  const rng = new Random(seed);
  const f = new Float64Array(n * n);
  const u = new Float64Array(n * n);
  const make = (count: number): ArrayDataset => {
    const x = new Float32Array(count * s * s);
    const y = new Float32Array(count * s * s);
    for (let c = 0; c < count; c++) {
      sampler.sample(rng, f);
      solver.solve(f, u);
      for (let i = 0; i < s; i++) {
        for (let j = 0; j < s; j++) {
          const from = i * stride * n + j * stride;
          x[(c * s + i) * s + j] = f[from];
          y[(c * s + i) * s + j] = u[from];
        }
      }
    }
    return { x: { values: x, shape: [count, s * s] }, y: { values: y, shape: [count, s * s] } };
  };
  const trainSet = make(train);
  const testSet = make(test);
  const grid = new Float32Array(s);
  for (let i = 0; i < s; i++) grid[i] = i / (s - 1);
  return { train: trainSet, test: testSet, grid, resolution: s, simulationResolution: n, ...field, seed };
}
