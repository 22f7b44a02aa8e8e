/**
 * The nonlinear diffusion-reaction case of DeepONet (Lu et al. 2021, "Problem 4"; PETScML §4.2.1):
 * learn the source-to-solution operator
 *
 *   u(x) -> s(x, t)  for  s_t = D s_xx + k s^2 + u(x)  on x in [0, 1], t in [0, T],
 *
 * with s = 0 at t = 0 and at x = 0, 1, D = k = 0.01 and T = 1 by default. No data file was
 * released, so the data are generated here, seeded and deterministic, following the authors'
 * scripts (`lululxvi/deeponet` `src/spaces.py` `GRF`, `src/system.py` `DRSystem`,
 * `src/ADR_solver.py` `solve_ADR`; shared/reference/CASES.md §1.5, §4.2):
 *
 * - sources: the zero-mean, unit-variance Gaussian random field with the squared-exponential
 *   kernel exp(-(x - x')^2 / (2 l^2)), l = 0.2, drawn on 1000 equispaced points of [0, 1] as L z
 *   with L the Cholesky factor of K + 1e-13 I (float64, ml-matrix, factored once per data set),
 *   then interpolated to the m = 100 sensors linspace(0, 1, m) by the not-a-knot cubic spline,
 *   which is what scipy's `interp1d(kind="cubic")` builds;
 * - solver: on the sensor grid in x times linspace(0, T, 100) in t, Crank-Nicolson diffusion, the
 *   reaction linearised about the old step and the source by the trapezoid rule,
 *   (s^{n+1} - s^n) / dt = (D / 2) Dh (s^{n+1} + s^n) + k (s^n)^2 + k s^n (s^{n+1} - s^n) + u,
 *   second order in h and dt, one tridiagonal (Thomas) solve per step where the authors call a
 *   dense solve;
 * - output: for each source, P grid points drawn with replacement, as DeepXDE triplets
 *   [u at the sensors, x, t] -> s(x, t).
 *
 * numpy's random stream cannot be reproduced, so this matches the authors' distribution, not their
 * bytes.
 */

import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import { Random, type ArrayDataset } from './darcy1d';
import { checkObject, fail, integerOption, nonNegativeOption, numberOption, positiveOption, show } from './options';

/** Parameters of the squared-exponential random field. */
export interface SquaredExponentialFieldOptions {
  /** Correlation length l of exp(-(x - x')^2 / (2 l^2)) (default 0.2). */
  lengthScale?: number;
  /** Equispaced points of [0, 1], both ends included, the field is drawn on (default 1000, at least 4). */
  gridPoints?: number;
}

/** The jitter of the authors' Cholesky; raised tenfold, up to MAX_JITTER, only if a pivot fails. */
const JITTER = 1e-13;
const MAX_JITTER = 1e-8;

function fieldParameters(where: string, o: SquaredExponentialFieldOptions) {
  const lengthScale = positiveOption(where, 'lengthScale', o.lengthScale, 0.2);
  const gridPoints = integerOption(where, 'gridPoints', o.gridPoints, 1000, 4);
  if (gridPoints > 4000) fail(where, `gridPoints must be at most 4000 (a dense n^3 Cholesky), got ${gridPoints}`);
  return { lengthScale, gridPoints };
}

/**
 * The zero-mean, unit-variance Gaussian random field on [0, 1] with covariance
 * exp(-(x - x')^2 / (2 l^2)), on the grid linspace(0, 1, gridPoints): samples are L z with z
 * standard normal and L L^T = K + jitter I (Cholesky, float64). The factor is computed once, in
 * the constructor, and serves every sample.
 *
 * The kernel matrix is numerically singular (for l = 0.2 on 1000 points, 976 of its eigenvalues
 * are below 1e-13), but Cholesky is backward stable: while every pivot stays positive, L L^T
 * equals K + jitter I up to round-off, so the samples have the right covariance. Cost: ~1 s for
 * 1000 points (n^3 / 3), against ~16 s for ml-matrix's symmetric eigensolver.
 */
export class SquaredExponentialField {
  readonly lengthScale: number;
  readonly gridPoints: number;
  /** linspace(0, 1, gridPoints). */
  readonly grid: Float64Array;
  /** The diagonal shift that let the factorization through: 1e-13 (the authors' value) unless it failed. */
  readonly jitter: number;
  /** L row-major, gridPoints x gridPoints, lower triangular. */
  private readonly factor: Float64Array;

  constructor(options?: SquaredExponentialFieldOptions) {
    const where = 'SquaredExponentialField';
    checkObject(where, 'options', options);
    const p = fieldParameters(where, options ?? {});
    this.lengthScale = p.lengthScale;
    this.gridPoints = p.gridPoints;
    const n = this.gridPoints;
    this.grid = linspace(0, 1, n);
    const kernel = new Matrix(n, n);
    const scale = -1 / (2 * this.lengthScale * this.lengthScale);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        const d = this.grid[i] - this.grid[j];
        const v = Math.exp(scale * d * d);
        kernel.set(i, j, v);
        kernel.set(j, i, v);
      }
    }
    let jitter = JITTER;
    for (;;) {
      for (let i = 0; i < n; i++) kernel.set(i, i, 1 + jitter);
      const cholesky = new CholeskyDecomposition(kernel);
      if (cholesky.isPositiveDefinite()) {
        this.factor = Float64Array.from(cholesky.lowerTriangularMatrix.to1DArray());
        break;
      }
      if (jitter >= MAX_JITTER) {
        fail(where, `the kernel matrix is not positive definite even with jitter ${jitter} (lengthScale = ${this.lengthScale}, gridPoints = ${n})`);
      }
      jitter *= 10;
    }
    this.jitter = jitter;
  }

  /** One field on `grid`; consumes gridPoints normals of `rng`. */
  sample(rng: Random): Float64Array {
    if (!(rng instanceof Random)) throw new TypeError(`petscml: SquaredExponentialField.sample: rng must be a Random, got ${show(rng)}`);
    const n = this.gridPoints;
    const z = new Float64Array(n);
    for (let i = 0; i < n; i++) z[i] = rng.normal();
    const out = new Float64Array(n);
    const L = this.factor;
    for (let i = 0; i < n; i++) {
      let s = 0;
      const row = i * n;
      for (let j = 0; j <= i; j++) s += L[row + j] * z[j];
      out[i] = s;
    }
    return out;
  }
}

function linspace(a: number, b: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = a + ((b - a) * i) / (n - 1);
  // a + (b - a) (n - 1) / (n - 1) can miss b by an ulp; numpy pins the end point too.
  out[n - 1] = b;
  return out;
}

/**
 * Solves the tridiagonal system lower[i] v[i-1] + diag[i] v[i] + upper[i] v[i+1] = rhs[i]
 * (lower[0], upper[n-1] unused) by the Thomas algorithm, in place: rhs becomes the solution and
 * upper is overwritten. No pivoting: callers pass systems that are diagonally dominant or, for the
 * spline's not-a-knot rows, known to eliminate without breakdown.
 */
function thomas(lower: Float64Array, diag: Float64Array, upper: Float64Array, rhs: Float64Array, n: number): void {
  let denom = diag[0];
  upper[0] /= denom;
  rhs[0] /= denom;
  for (let i = 1; i < n; i++) {
    denom = diag[i] - lower[i] * upper[i - 1];
    if (i < n - 1) upper[i] /= denom;
    rhs[i] = (rhs[i] - lower[i] * rhs[i - 1]) / denom;
  }
  for (let i = n - 2; i >= 0; i--) rhs[i] -= upper[i] * rhs[i + 1];
}

/**
 * The not-a-knot cubic spline through (x_i, y_i), evaluated at `at`: the interpolant scipy's
 * `interp1d(x, y, kind="cubic")` builds (`make_interp_spline(k=3)`, whose default boundary
 * condition is not-a-knot: the third derivative is continuous at x_1 and x_{n-2}). It is exact for
 * cubic polynomials and O(h^4) accurate for smooth data. Not-a-knot rather than natural because a
 * natural spline forces y'' = 0 at the ends, which a random field does not have, and would add an
 * O(h^2) error there.
 *
 * @param x strictly increasing abscissae, at least 4.
 * @param at points in [x_0, x_{n-1}] (scipy raises for points outside as well).
 */
export function cubicSpline(x: Float64Array, y: Float64Array, at: ArrayLike<number>): Float64Array {
  const where = 'cubicSpline';
  if (!(x instanceof Float64Array)) throw new TypeError(`petscml: ${where}: x must be a Float64Array, got ${show(x)}`);
  if (!(y instanceof Float64Array)) throw new TypeError(`petscml: ${where}: y must be a Float64Array, got ${show(y)}`);
  const n = x.length;
  if (n < 4) fail(where, `x must have at least 4 points, got ${n}`);
  if (y.length !== n) fail(where, `y must have the length of x (${n}), got ${y.length}`);
  const dx = new Float64Array(n - 1);
  const slope = new Float64Array(n - 1);
  for (let i = 0; i < n - 1; i++) {
    dx[i] = x[i + 1] - x[i];
    if (!(dx[i] > 0)) fail(where, `x must be strictly increasing, got x[${i}] = ${x[i]}, x[${i + 1}] = ${x[i + 1]}`);
    slope[i] = (y[i + 1] - y[i]) / dx[i];
  }
  // Unknowns are the slopes v_i = S'(x_i). Interior rows are C2 continuity; the end rows are
  // not-a-knot, the same rows as scipy's CubicSpline builds.
  const lower = new Float64Array(n);
  const diag = new Float64Array(n);
  const upper = new Float64Array(n);
  const v = new Float64Array(n);
  for (let i = 1; i < n - 1; i++) {
    lower[i] = dx[i];
    diag[i] = 2 * (dx[i - 1] + dx[i]);
    upper[i] = dx[i - 1];
    v[i] = 3 * (dx[i] * slope[i - 1] + dx[i - 1] * slope[i]);
  }
  let d = dx[0] + dx[1];
  diag[0] = dx[1];
  upper[0] = d;
  v[0] = ((dx[0] + 2 * d) * dx[1] * slope[0] + dx[0] * dx[0] * slope[1]) / d;
  d = dx[n - 2] + dx[n - 3];
  diag[n - 1] = dx[n - 3];
  lower[n - 1] = d;
  v[n - 1] = (dx[n - 2] * dx[n - 2] * slope[n - 3] + (2 * d + dx[n - 2]) * dx[n - 3] * slope[n - 2]) / d;
  thomas(lower, diag, upper, v, n);

  const out = new Float64Array(at.length);
  for (let q = 0; q < at.length; q++) {
    const p = at[q];
    if (!(p >= x[0] && p <= x[n - 1])) fail(where, `at[${q}] = ${p} is outside [${x[0]}, ${x[n - 1]}]`);
    // the interval [x_i, x_{i+1}] holding p, the last one for p = x_{n-1}
    let lo = 0, hi = n - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (x[mid] <= p) lo = mid;
      else hi = mid - 1;
    }
    const h = dx[lo];
    const s = (p - x[lo]) / h;
    // cubic Hermite form on the interval
    const h00 = (1 + 2 * s) * (1 - s) * (1 - s);
    const h10 = s * (1 - s) * (1 - s);
    const h01 = s * s * (3 - 2 * s);
    const h11 = s * s * (s - 1);
    out[q] = h00 * y[lo] + h * h10 * v[lo] + h01 * y[lo + 1] + h * h11 * v[lo + 1];
  }
  return out;
}

/** Parameters of the diffusion-reaction solve. */
export interface DiffusionReactionSolveOptions {
  /** Diffusivity D >= 0 (default 0.01). */
  D?: number;
  /** Reaction coefficient k of k s^2 (default 0.01; negative for absorption). */
  k?: number;
  /** Final time (default 1). */
  T?: number;
  /** Time levels linspace(0, T, timePoints) (default 100, at least 2). */
  timePoints?: number;
}

export interface SolveDiffusionReactionOptions extends DiffusionReactionSolveOptions {
  /**
   * Space points linspace(0, 1, spacePoints) (at least 3). Required with a source function;
   * with a source array it is the array's length.
   */
  spacePoints?: number;
}

/** A source constant in time (its values at the space points) or any f(x, t). */
export type DiffusionReactionSource = Float64Array | ((x: number, t: number) => number);

function solveParameters(where: string, o: DiffusionReactionSolveOptions) {
  return {
    D: nonNegativeOption(where, 'D', o.D, 0.01),
    k: numberOption(where, 'k', o.k, 0.01),
    T: positiveOption(where, 'T', o.T, 1),
    timePoints: integerOption(where, 'timePoints', o.timePoints, 100, 2),
  };
}

/**
 * The solver proper, with its work buffers, so one instance serves a whole data set. Writes
 * s(x_i, t_j) at out[j * nx + i].
 */
class DiffusionReactionSolver {
  private readonly lower: Float64Array;
  private readonly diag: Float64Array;
  private readonly upper: Float64Array;
  private readonly rhs: Float64Array;
  private readonly fOld: Float64Array;
  private readonly fNew: Float64Array;

  constructor(
    private readonly nx: number,
    private readonly p: { D: number; k: number; T: number; timePoints: number },
  ) {
    const m = nx - 2;
    this.lower = new Float64Array(m);
    this.diag = new Float64Array(m);
    this.upper = new Float64Array(m);
    this.rhs = new Float64Array(m);
    this.fOld = new Float64Array(m);
    this.fNew = new Float64Array(m);
  }

  solve(source: DiffusionReactionSource, out: Float64Array): void {
    const { nx, lower, diag, upper, rhs } = this;
    const { D, k, T, timePoints: nt } = this.p;
    const m = nx - 2;
    const h = 1 / (nx - 1);
    const dt = T / (nt - 1);
    const r = D / (2 * h * h);
    let fOld = this.fOld, fNew = this.fNew;
    const sourceAt = (t: number, f: Float64Array) => {
      if (typeof source === 'function') {
        for (let i = 0; i < m; i++) f[i] = source((i + 1) * h, t);
      } else {
        for (let i = 0; i < m; i++) f[i] = source[i + 1];
      }
    };
    out.fill(0, 0, nx * nt);
    sourceAt(0, fOld);
    for (let n = 0; n + 1 < nt; n++) {
      sourceAt(((n + 1) * T) / (nt - 1), fNew);
      const old = n * nx;
      // Interior unknown i is grid node i + 1; the boundary nodes stay 0. The k (s^n)^2 terms of
      // the linearisation cancel, leaving k s^n s^{n+1} on the left-hand side.
      for (let i = 0; i < m; i++) {
        const s = out[old + i + 1];
        // Past k s dt = 1 the step matrix stops being an M-matrix: s^{n+1} flips sign instead of
        // growing, so the data would be wrong without ever turning NaN.
        if (!(k * s * dt < 1)) {
          throw new RangeError(
            `petscml: solveDiffusionReaction: k s dt reached ${k * s * dt} at x = ${(i + 1) * h}, t = ${(n * T) / (nt - 1)} (the solution blows up, or the time step is too large for it: use more timePoints)`,
          );
        }
        lower[i] = -r;
        upper[i] = -r;
        diag[i] = 1 / dt + 2 * r - k * s;
        rhs[i] = s / dt + r * (out[old + i] - 2 * s + out[old + i + 2]) + 0.5 * (fOld[i] + fNew[i]);
      }
      thomas(lower, diag, upper, rhs, m);
      const next = old + nx;
      for (let i = 0; i < m; i++) {
        if (!Number.isFinite(rhs[i])) {
          throw new RangeError(`petscml: solveDiffusionReaction: the solution is not finite at t = ${((n + 1) * T) / (nt - 1)}`);
        }
        out[next + i + 1] = rhs[i];
      }
      const swap = fOld;
      fOld = fNew;
      fNew = swap;
    }
  }
}

/**
 * Solves s_t = D s_xx + k s^2 + f(x, t) on [0, 1] x [0, T], s = 0 at t = 0 and at x = 0, 1, by
 * the authors' scheme (Crank-Nicolson diffusion, reaction linearised about the old step, source by
 * the trapezoid rule: second order in h and dt) on linspace(0, 1, spacePoints) x
 * linspace(0, T, timePoints), float64, one Thomas solve per step.
 *
 * @param source the values at the space points of a source constant in time (as in the data set;
 * the two boundary values are not used), or a function f(x, t).
 * @returns s on the grid, time-major: s(x_i, t_j) at [j * spacePoints + i].
 * @throws RangeError for a bad option, or when k s dt reaches 1 (a blow-up, or a time step too
 * large for the solution: the scheme then no longer approximates the equation).
 */
export function solveDiffusionReaction(source: DiffusionReactionSource, options?: SolveDiffusionReactionOptions): Float64Array {
  const where = 'solveDiffusionReaction';
  checkObject(where, 'options', options);
  const o = options ?? {};
  let nx: number;
  if (source instanceof Float64Array) {
    nx = source.length;
    if (nx < 3) fail(where, `source must have at least 3 values, got ${nx}`);
    if (o.spacePoints !== undefined && o.spacePoints !== nx) {
      fail(where, `spacePoints must equal source.length (${nx}) for a source array, got ${show(o.spacePoints)}`);
    }
  } else if (typeof source === 'function') {
    if (o.spacePoints === undefined) fail(where, 'spacePoints is required with a source function');
    nx = integerOption(where, 'spacePoints', o.spacePoints, 0, 3);
  } else {
    throw new TypeError(`petscml: ${where}: source must be a Float64Array or a function, got ${show(source)}`);
  }
  const p = solveParameters(where, o);
  const out = new Float64Array(nx * p.timePoints);
  new DiffusionReactionSolver(nx, p).solve(source, out);
  return out;
}

export interface DiffusionReactionOptions extends DiffusionReactionSolveOptions, SquaredExponentialFieldOptions {
  /** Training functions (default 100). */
  train?: number;
  /** Test functions (default 100). */
  test?: number;
  /** Output points P per training function, drawn with replacement from the solver grid (default 100). */
  points?: number;
  /** Output points per test function (default: `points`). */
  testPoints?: number;
  /** Sensors m: linspace(0, 1, m), also the solver's space grid (default 100, at least 3). */
  sensors?: number;
  /** Also return every test function's solution on the whole solver grid (default false). */
  testSolutions?: boolean;
  /** Seed of the one random stream that draws the training functions, then the test functions (default 1234). */
  seed?: number;
  /** Called after each function with the number done and the total (train + test). */
  onProgress?: (done: number, total: number) => void;
}

/** Every test function's solution on the whole solver grid. */
export interface DiffusionReactionSolutions {
  /** The sources at the sensors, [test, m]. */
  sources: { values: Float32Array; shape: [number, number] };
  /** s on the solver grid, time-major: s(x_i, t_j) of function f at [(f * timePoints + j) * m + i]. */
  values: Float32Array;
  shape: [number, number, number];
}

/** The generated data set and the parameters that made it. */
export interface DiffusionReaction {
  /**
   * DeepXDE's triplet layout, function by function (P rows each): x rows [u(sensors) (m), x, t]
   * ([train * points, m + 2]), y rows [s(x, t)] ([train * points, 1]).
   */
  train: ArrayDataset;
  /** Same layout, [test * testPoints, m + 2] and [test * testPoints, 1]. */
  test: ArrayDataset;
  /** linspace(0, 1, m): the sensors and the solver's space grid. */
  sensors: Float32Array;
  /** linspace(0, T, timePoints): the solver's time levels. */
  times: Float32Array;
  /** Present when `testSolutions` was asked for. */
  testSolutions?: DiffusionReactionSolutions;
  points: number;
  testPoints: number;
  D: number;
  k: number;
  T: number;
  timePoints: number;
  lengthScale: number;
  gridPoints: number;
  /** The Cholesky jitter used (1e-13 unless the factorization needed more). */
  jitter: number;
  seed: number;
}

/**
 * Generates the diffusion-reaction data set: `train` functions, then `test` functions, from one
 * stream seeded by `seed` (same options, same bytes). For each function, in stream order: the
 * field's gridPoints normals, then the P space indices, then the P time indices (uniform integers,
 * as `DRSystem.eval_s_sampling` draws them). The field is splined to the sensors and solved
 * (`solveDiffusionReaction`); a row's point is (x_i, t_j) = (i / (m - 1), j T / (timePoints - 1)).
 *
 * Cost at the defaults: about 2 s on one core (measured 1.6-2.4 s), half of it the 1000-point
 * Cholesky, the rest ~5 ms per function (sampling L z dominates; each solve is 99 Thomas steps).
 *
 * @throws TypeError for an option of the wrong type, RangeError for a value out of range (the
 * message names the option and the value).
 */
export function diffusionReaction(options: DiffusionReactionOptions = {}): DiffusionReaction {
  const where = 'diffusionReaction';
  checkObject(where, 'options', options);
  const train = integerOption(where, 'train', options.train, 100, 1);
  const test = integerOption(where, 'test', options.test, 100, 1);
  const points = integerOption(where, 'points', options.points, 100, 1);
  const testPoints = integerOption(where, 'testPoints', options.testPoints, points, 1);
  const m = integerOption(where, 'sensors', options.sensors, 100, 3);
  const solve = solveParameters(where, options);
  const seed = numberOption(where, 'seed', options.seed, 1234);
  if (!Number.isSafeInteger(seed)) fail(where, `seed must be an integer, got ${seed}`);
  const keep = options.testSolutions ?? false;
  if (typeof keep !== 'boolean') throw new TypeError(`petscml: ${where}: testSolutions must be a boolean, got ${show(keep)}`);
  const onProgress = options.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new TypeError(`petscml: ${where}: onProgress must be a function, got ${show(onProgress)}`);
  }
  // Checked here so that the errors name diffusionReaction, not the field's constructor.
  const field = new SquaredExponentialField(fieldParameters(where, options));

  const nt = solve.timePoints;
  const sensors = linspace(0, 1, m);
  const times = linspace(0, solve.T, nt);
  const rng = new Random(seed);
  const solver = new DiffusionReactionSolver(m, solve);
  const s = new Float64Array(m * nt);
  const ix = new Int32Array(Math.max(points, testPoints));
  const it = new Int32Array(ix.length);
  const cols = m + 2;
  const total = train + test;
  let done = 0;
  const solutions = keep ? new Float32Array(test * nt * m) : undefined;
  const sources = keep ? new Float32Array(test * m) : undefined;

  const make = (count: number, P: number, isTest: boolean): ArrayDataset => {
    const x = new Float32Array(count * P * cols);
    const y = new Float32Array(count * P);
    for (let f = 0; f < count; f++) {
      const u = cubicSpline(field.grid, field.sample(rng), sensors);
      for (let q = 0; q < P; q++) ix[q] = Math.floor(rng.uniform() * m);
      for (let q = 0; q < P; q++) it[q] = Math.floor(rng.uniform() * nt);
      solver.solve(u, s);
      const u32 = Float32Array.from(u);
      for (let q = 0; q < P; q++) {
        const row = (f * P + q) * cols;
        x.set(u32, row);
        x[row + m] = sensors[ix[q]];
        x[row + m + 1] = times[it[q]];
        y[f * P + q] = s[it[q] * m + ix[q]];
      }
      if (isTest && solutions && sources) {
        sources.set(u32, f * m);
        solutions.set(s, f * nt * m);
      }
      done++;
      onProgress?.(done, total);
    }
    return { x: { values: x, shape: [count * P, cols] }, y: { values: y, shape: [count * P, 1] } };
  };
  const trainSet = make(train, points, false);
  const testSet = make(test, testPoints, true);
  return {
    train: trainSet,
    test: testSet,
    sensors: Float32Array.from(sensors),
    times: Float32Array.from(times),
    ...(solutions && sources
      ? { testSolutions: { sources: { values: sources, shape: [test, m] as [number, number] }, values: solutions, shape: [test, nt, m] as [number, number, number] } }
      : {}),
    points,
    testPoints,
    ...solve,
    lengthScale: field.lengthScale,
    gridPoints: field.gridPoints,
    jitter: field.jitter,
    seed,
  };
}
