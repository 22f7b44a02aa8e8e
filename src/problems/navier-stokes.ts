/**
 * The 2-D Navier-Stokes vorticity case of the FNO paper (Li et al. 2020, §5.3; PETScML §4.1.2):
 * learn the map from the vorticity at t = 1..tIn to the vorticity at t = tIn+1..tIn+tOut for
 *
 *   d_t w + u . grad w = nu Lap w + f,  u = (d_y psi, -d_x psi),  -Lap psi = w
 *
 * on the unit torus, with nu = 1e-3 and f(x, y) = 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y)). The
 * original data file (`ns_V1e-3_N5000_T50.mat`) is not shipped, so the data are generated here,
 * seeded and deterministic, following the authors' `ns_2d.py` and `random_fields.py`
 * (shared/reference/CASES.md §1.5, §3.2, §3.8):
 *
 * - initial data: w0 = Re ifft2(c), c_k = N^2 sqrt(2) sigma (4 pi^2 |k|^2 + tau^2)^(-alpha/2) xi_k,
 *   xi_k complex standard normal (real and imaginary parts of variance 1/2), c_0 = 0, for every
 *   k in [-N/2, N/2 - 1]^2, sigma = tau^(alpha - 1); alpha = 2.5 and tau = 7 make this the
 *   zero-mean field N(0, 7^3 (-Lap + 49)^(-2.5));
 * - integration: Fourier pseudo-spectral on the N x N simulation grid, velocity and grad w by
 *   spectral differentiation, the product u . grad w formed on the grid and its transform masked
 *   by the 2/3 rule (|k_x|, |k_y| <= N/3), Crank-Nicolson on the viscous term, forward Euler on
 *   advection and forcing, float64;
 * - output: snapshots every `recordEvery` time units, subsampled by striding to the resolution s.
 *
 * The authors simulated on 256^2 with dt = 1e-4 and stored 64^2; the defaults here are the CPU
 * variant of CASES.md §3.7 (simulate on 32^2 with dt = 5e-3, t <= 20). This reproduces the
 * distribution, not their bytes. One deliberate difference: the authors' `lap[0,0] = 1` (a guard
 * for psi_hat = w_hat / lap) also enters their Crank-Nicolson factor and damps the mean of w at
 * rate nu; here the mean is conserved, as the PDE says. It is zero for their initial fields, so
 * the two agree on the data. FFTs are fft.js (radix-4, float64).
 */

import FFT from 'fft.js';
import { Random, type ArrayDataset } from './darcy1d';
import { checkGridSize, checkObject, fail, integerOption, isPowerOfTwo, nonNegativeOption, numberOption, positiveOption, show } from './options';

/** Parameters of the random initial vorticity (defaults: the FNO Navier-Stokes values). */
export interface VorticityInitialOptions {
  /** Smoothness exponent alpha of the covariance sigma^2 (-Lap + tau^2)^(-alpha) (default 2.5). */
  alpha?: number;
  /** Inverse length scale tau (default 7). */
  tau?: number;
  /** Amplitude sigma (default tau^(alpha - 1), the authors' tau^((2 alpha - d) / 2) for d = 2). */
  sigma?: number;
}

/** The forcing: the FNO one, none, or values on the simulation grid (row-major, [i * n + j]). */
export type VorticityForcing = 'li' | 'none' | Float64Array;

/** Parameters of the Navier-Stokes solve. */
export interface NavierStokesSolveOptions {
  /** Viscosity (default 1e-3); 0 gives the dealiased Euler equations. */
  nu?: number;
  /**
   * Time step; recordEvery / dt must be a whole number (to 1e-9 relative). Default: the largest
   * step <= 5e-3 that divides recordEvery (5e-3 for recordEvery = 1), see `DEFAULT_DT`.
   */
  dt?: number;
  /** Final time, a whole number of recordEvery (default 20). */
  T?: number;
  /** Time between snapshots (default 1). */
  recordEvery?: number;
  /** f(x, y) (default 'li': 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))). */
  forcing?: VorticityForcing;
}

export interface NavierStokes2dOptions extends VorticityInitialOptions, Omit<NavierStokesSolveOptions, 'T'> {
  /** Training samples (default 200). */
  train?: number;
  /** Test samples (default 50). */
  test?: number;
  /** Output resolution s: the s x s grid (i / s, j / s) (default 32, at least 4). */
  resolution?: number;
  /** Simulation grid N: a power of two that is a multiple of `resolution` (default: `resolution`). */
  simulationResolution?: number;
  /** Snapshots in the input, at t = 1..tIn times recordEvery (default 10). */
  tIn?: number;
  /** Snapshots in the target, at t = tIn+1..tIn+tOut times recordEvery (default 10). */
  tOut?: number;
  /** Seed of the one random stream that draws the training samples, then the test samples (default 1234). */
  seed?: number;
  /** Called after each sample with the number done and the total (train + test). */
  onProgress?: (done: number, total: number) => void;
}

/** The generated data set and the parameters that made it. */
export interface NavierStokes2d {
  /**
   * x = w at t = 1..tIn, y = w at t = tIn+1..tIn+tOut (in units of recordEvery), on the s x s
   * grid in the authors' axis order [x, y, t]: x is [train, s * s * tIn] with sample n's value at
   * (i / s, j / s, t_k) at column (i * s + j) * tIn + k, and y likewise with tOut. The input is not
   * w0, as in the authors' `fourier_3d.py`.
   */
  train: ArrayDataset;
  /** Same layout as `train`, [test, ...]. */
  test: ArrayDataset;
  /** s. */
  resolution: number;
  /** N. */
  simulationResolution: number;
  tIn: number;
  tOut: number;
  /** The times of the tIn + tOut snapshots: recordEvery, 2 recordEvery, ... */
  times: Float64Array;
  /** Where the samples are along each axis: i / s, i = 0..s-1. */
  positions: Float32Array;
  nu: number;
  /** The time step used (recordEvery / stepsPerRecord). */
  dt: number;
  recordEvery: number;
  /** Time steps between snapshots. */
  stepsPerRecord: number;
  /** 'li', 'none', or 'custom' for a forcing given as values. */
  forcing: 'li' | 'none' | 'custom';
  alpha: number;
  tau: number;
  sigma: number;
  seed: number;
}

/**
 * The default time step. Forward Euler makes the error first order in dt, and on 32^2 at
 * nu = 1e-3 it is nearly all of the error: for two GRF fields, w(t = 20) at dt = 5e-3 is within
 * 4.7e-4 and 7.4e-4 (relative L2) of a 64^2, dt = 6.25e-4 reference (CASES.md §3.7: 8.5e-4 against
 * 128^2, dt = 2.5e-4), while 32^2 and 64^2 at the same dt differ by 5e-6. It is also ten times
 * inside the stable range: the CFL number max |u| dt / dx is 0.03 by t = 20, and 32^2 runs stay
 * bounded to t = 20 up to dt = 0.05.
 */
const DEFAULT_DT = 5e-3;

interface InitialParameters {
  alpha: number;
  tau: number;
  sigma: number;
}

interface SolveParameters {
  nu: number;
  dt: number;
  recordEvery: number;
  stepsPerRecord: number;
  records: number;
  forcing: Float64Array | null;
  forcingName: 'li' | 'none' | 'custom';
}

function initialParameters(where: string, opts: VorticityInitialOptions | undefined): InitialParameters {
  checkObject(where, 'options', opts);
  const o = opts ?? {};
  const alpha = nonNegativeOption(where, 'alpha', o.alpha, 2.5);
  const tau = nonNegativeOption(where, 'tau', o.tau, 7);
  const sigma = nonNegativeOption(where, 'sigma', o.sigma, Math.pow(tau, alpha - 1));
  if (!Number.isFinite(sigma)) fail(where, `the default sigma = tau^(alpha - 1) is not finite for alpha = ${alpha}, tau = ${tau}`);
  return { alpha, tau, sigma };
}

/** Stepping and forcing of one solve; T is given in whole snapshots so that the data set can fix it. */
function solveParameters(where: string, opts: NavierStokesSolveOptions | undefined, n: number, records: number | undefined): SolveParameters {
  checkObject(where, 'options', opts);
  const o = opts ?? {};
  const nu = nonNegativeOption(where, 'nu', o.nu, 1e-3);
  const recordEvery = positiveOption(where, 'recordEvery', o.recordEvery, 1);
  let stepsPerRecord: number;
  if (o.dt === undefined) {
    // The 1e-9 slack keeps recordEvery = 1 at exactly 200 steps despite 1 / 5e-3 rounding.
    stepsPerRecord = Math.max(1, Math.ceil(recordEvery / DEFAULT_DT - 1e-9));
  } else {
    const dt = positiveOption(where, 'dt', o.dt, DEFAULT_DT);
    stepsPerRecord = Math.round(recordEvery / dt);
    if (stepsPerRecord < 1 || Math.abs(stepsPerRecord * dt - recordEvery) > 1e-9 * recordEvery) {
      fail(where, `dt must divide recordEvery into a whole number of steps, got dt = ${dt} for recordEvery = ${recordEvery}`);
    }
  }
  if (records === undefined) {
    const T = positiveOption(where, 'T', o.T, 20);
    records = Math.round(T / recordEvery);
    if (records < 1 || Math.abs(records * recordEvery - T) > 1e-9 * T) {
      fail(where, `T must be a whole number of recordEvery, got T = ${T} for recordEvery = ${recordEvery}`);
    }
  }
  if (stepsPerRecord * records > 1e8) fail(where, `T / dt must be at most 1e8 steps, got ${stepsPerRecord * records}`);
  const f = o.forcing ?? 'li';
  let forcing: Float64Array | null = null;
  let forcingName: SolveParameters['forcingName'];
  if (f === 'li') {
    forcingName = 'li';
    forcing = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const phase = (2 * Math.PI * (i + j)) / n;
        forcing[i * n + j] = 0.1 * (Math.sin(phase) + Math.cos(phase));
      }
    }
  } else if (f === 'none') {
    forcingName = 'none';
  } else if (f instanceof Float64Array) {
    forcingName = 'custom';
    if (f.length !== n * n) fail(where, `forcing must have n * n = ${n * n} values for the ${n} x ${n} grid, got ${f.length}`);
    for (let m = 0; m < f.length; m++) {
      if (!Number.isFinite(f[m])) fail(where, `forcing must be finite, got forcing[${m}] = ${f[m]}`);
    }
    forcing = f;
  } else if (typeof f === 'string') {
    fail(where, `forcing must be 'li', 'none' or a Float64Array, got ${show(f)}`);
  } else {
    throw new TypeError(`petscml: ${where}: forcing must be 'li', 'none' or a Float64Array, got ${show(f)}`);
  }
  return { nu, dt: recordEvery / stepsPerRecord, recordEvery, stepsPerRecord, records, forcing, forcingName };
}

/** Wavenumber of FFT index m on n points, in the authors' order [0..n/2-1, -n/2..-1]. */
function wavenumber(m: number, n: number): number {
  return m < n / 2 ? m : m - n;
}

/** Work buffers of the initial-field synthesis, so that a data set allocates them once. */
class VorticitySampler {
  private readonly fft: FFT;
  private readonly amplitude: Float64Array;
  private readonly rows: Float64Array;
  private readonly column: Float64Array;
  private readonly transformed: Float64Array;

  constructor(private readonly n: number, p: InitialParameters) {
    this.fft = new FFT(n);
    this.amplitude = new Float64Array(n * n);
    for (let a = 0; a < n; a++) {
      const kx = wavenumber(a, n);
      for (let b = 0; b < n; b++) {
        const ky = wavenumber(b, n);
        // The N^2 of the authors' sqrt_eig cancels the 1 / N^2 of ifft2, and their sqrt 2 the
        // 1 / sqrt 2 standard deviation of each part of torch's complex normal: c_k / N^2 =
        // amplitude (g1 + i g2) with g1, g2 standard normal.
        if (a !== 0 || b !== 0) {
          this.amplitude[a * n + b] = p.sigma * Math.pow(4 * Math.PI * Math.PI * (kx * kx + ky * ky) + p.tau * p.tau, -p.alpha / 2);
        }
      }
    }
    this.rows = new Float64Array(2 * n * n);
    this.column = new Float64Array(2 * n);
    this.transformed = new Float64Array(2 * n);
  }

  /** Fills `out` (n * n) with one field; consumes 2 n^2 normals, (re, im) for each k in row-major order. */
  draw(rng: Random, out: Float64Array): void {
    const { n, fft, amplitude, rows, column, transformed } = this;
    // Re sum_k c_k e^{+2 pi i k.x} = Re FFT2(conj c): a forward transform with conjugated input.
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < n; b++) {
        const s = amplitude[a * n + b];
        column[2 * b] = s * rng.normal();
        column[2 * b + 1] = -s * rng.normal();
      }
      fft.transform(transformed, column);
      rows.set(transformed, 2 * n * a);
    }
    for (let b = 0; b < n; b++) {
      for (let a = 0; a < n; a++) {
        column[2 * a] = rows[2 * (a * n + b)];
        column[2 * a + 1] = rows[2 * (a * n + b) + 1];
      }
      fft.transform(transformed, column);
      for (let i = 0; i < n; i++) out[i * n + b] = transformed[2 * i];
    }
  }
}

/**
 * Draws one initial vorticity on the n x n grid (i / n, j / n), row-major ([i * n + j] at
 * x = i / n, y = j / n), the authors' `GaussianRF(2, n, alpha, tau).sample`: w0 = Re ifft2(c) with
 * c_k = n^2 sqrt(2) sigma (4 pi^2 |k|^2 + tau^2)^(-alpha/2) xi_k for k in [-n/2, n/2 - 1]^2,
 * xi_k complex standard normal, c_0 = 0. The field has zero mean (exactly, up to round-off) and
 * pointwise variance sigma^2 sum_{k != 0} (4 pi^2 |k|^2 + tau^2)^(-alpha) (0.0343 for the
 * defaults on 32^2). Consumes 2 n^2 normals of `rng`: Re xi_k, Im xi_k (times sqrt 2) for k in
 * row-major order of the FFT indices, k = 0 included.
 *
 * @param n grid points per axis: a power of two >= 4 (the field is synthesised with fft.js).
 */
export function sampleVorticityInitial(rng: Random, n: number, options?: VorticityInitialOptions): Float64Array {
  const where = 'sampleVorticityInitial';
  if (!(rng instanceof Random)) throw new TypeError(`petscml: ${where}: rng must be a Random, got ${show(rng)}`);
  checkGridSize(where, 'n', n);
  const p = initialParameters(where, options);
  const out = new Float64Array(n * n);
  new VorticitySampler(n, p).draw(rng, out);
  return out;
}

/**
 * The pseudo-spectral stepper of `ns_2d.py`, on the half spectrum k_y = 0..N/2 of the real
 * transform. Holds the coefficients and work buffers, so one instance serves a whole data set.
 *
 * Spectra are stored by k_y column, each column contiguous in k_x: entry (a, b) (k_x index a,
 * k_y index b) at 2 (b N + a). Inverse transforms are forward fft.js transforms read at the
 * reversed index, with 1 / N^2 folded into the spectral factors, which saves the scaling pass of
 * fft.js's inverseTransform. A step costs 4 (N/2 + 1) - 4 complex k_x transforms, 2 N complex
 * k_y transforms (two real fields in each), N / 2 complex transforms of two real rows each,
 * and floor(N/3) + 1 complex k_x transforms.
 */
class VorticityStepper {
  private readonly n: number;
  private readonly half: number;
  /** Highest |k| kept by the 2/3 rule in each direction (the authors' |k| <= (2/3) (N/2)). */
  private readonly kept: number;
  private readonly fft: FFT;
  /** The state w_hat. */
  private readonly w: Float64Array;
  /** Column b of `w` (views, so that fft.js reads the state in place). */
  private readonly wColumns: Float64Array[];
  /** Crank-Nicolson: w <- cnA w + cnB (f_hat - F_hat), per mode. */
  private readonly cnA: Float64Array;
  private readonly cnB: Float64Array;
  /** cnB f_hat. */
  private readonly force: Float64Array;
  /** 1 / (N^2 4 pi^2 |k|^2), with the authors' |k|^2 = 1 at k = 0; and 2 pi k_x times it. */
  private readonly invLap: Float64Array;
  private readonly kxInvLap: Float64Array;
  /**
   * 2 pi k_x / N^2 and 2 pi k_y, 0 at the Nyquist index: the authors' complex ifft2(...).real
   * discards the Nyquist derivative (i k times a real coefficient), and so does this.
   */
  private readonly kxScaled: Float64Array;
  private readonly ky: Float64Array;
  private readonly in1: Float64Array;
  private readonly in3: Float64Array;
  private readonly in4: Float64Array;
  private readonly out1: Float64Array;
  private readonly out2: Float64Array;
  private readonly out3: Float64Array;
  private readonly out4: Float64Array;
  /**
   * By grid row x, the full k_y spectra of u + i v and w_x + i w_y once the k_x transform is done
   * (2 (x N + k_y index)), and their views by row.
   */
  private readonly velocitySpectra: Float64Array;
  private readonly gradientSpectra: Float64Array;
  private readonly velocityRows: Float64Array[];
  private readonly gradientRows: Float64Array[];
  private readonly velocity: Float64Array;
  private readonly gradient: Float64Array;
  /** The products on two grid rows, as the real and imaginary parts of one complex field. */
  private readonly product: Float64Array;
  private readonly rowSpectrum: Float64Array;
  /** Row transforms of a real field by column, 2 (b N + x), and views by column; step() fills only b <= kept. */
  private readonly rowTransforms: Float64Array;
  private readonly rowTransformColumns: Float64Array[];

  constructor(n: number, p: SolveParameters) {
    this.n = n;
    const H = (this.half = n / 2 + 1);
    this.kept = Math.floor(n / 3);
    this.fft = new FFT(n);
    const scale = 1 / (n * n);
    this.kxScaled = new Float64Array(n);
    for (let a = 0; a < n; a++) this.kxScaled[a] = a === n / 2 ? 0 : 2 * Math.PI * wavenumber(a, n) * scale;
    this.ky = new Float64Array(H);
    for (let b = 0; b < H; b++) this.ky[b] = b === n / 2 ? 0 : 2 * Math.PI * b;
    const columns = (buffer: Float64Array, count: number) => Array.from({ length: count }, (_, b) => buffer.subarray(2 * b * n, 2 * (b + 1) * n));
    this.w = new Float64Array(2 * H * n);
    this.wColumns = columns(this.w, H);
    this.cnA = new Float64Array(H * n);
    this.cnB = new Float64Array(H * n);
    this.invLap = new Float64Array(H * n);
    this.kxInvLap = new Float64Array(H * n);
    this.force = new Float64Array(2 * H * n);
    for (let b = 0; b < H; b++) {
      for (let a = 0; a < n; a++) {
        const kx = wavenumber(a, n);
        const k2 = kx * kx + b * b;
        const lap = 4 * Math.PI * Math.PI * k2;
        // |k|^2 = 0 at k = 0, not the authors' guard value 1: the mean is conserved (module comment).
        const h = 0.5 * p.dt * p.nu * lap;
        const m = b * n + a;
        this.cnA[m] = (1 - h) / (1 + h);
        this.cnB[m] = p.dt / (1 + h);
        this.invLap[m] = scale / (k2 === 0 ? 1 : lap);
        this.kxInvLap[m] = (a === n / 2 ? 0 : 2 * Math.PI * kx) * this.invLap[m];
      }
    }
    this.in1 = new Float64Array(2 * n);
    this.in3 = new Float64Array(2 * n);
    this.in4 = new Float64Array(2 * n);
    this.out1 = new Float64Array(2 * n);
    this.out2 = new Float64Array(2 * n);
    this.out3 = new Float64Array(2 * n);
    this.out4 = new Float64Array(2 * n);
    this.velocitySpectra = new Float64Array(2 * n * n);
    this.gradientSpectra = new Float64Array(2 * n * n);
    this.velocityRows = columns(this.velocitySpectra, n);
    this.gradientRows = columns(this.gradientSpectra, n);
    this.velocity = new Float64Array(2 * n);
    this.gradient = new Float64Array(2 * n);
    this.product = new Float64Array(2 * n);
    this.rowSpectrum = new Float64Array(2 * n);
    this.rowTransforms = new Float64Array(2 * H * n);
    this.rowTransformColumns = columns(this.rowTransforms, H);
    if (p.forcing !== null) {
      this.forward(p.forcing, this.force);
      for (let m = 0; m < H * n; m++) {
        this.force[2 * m] *= this.cnB[m];
        this.force[2 * m + 1] *= this.cnB[m];
      }
    }
  }

  /** out (half spectrum) = fft2 of the real field (row-major, n x n). */
  private forward(field: Float64Array, out: Float64Array): void {
    const { n, half: H, fft, rowSpectrum, out1, rowTransforms, rowTransformColumns } = this;
    for (let x = 0; x < n; x++) {
      fft.realTransform(rowSpectrum, field.subarray(x * n, (x + 1) * n));
      for (let b = 0; b < H; b++) {
        rowTransforms[2 * (b * n + x)] = rowSpectrum[2 * b];
        rowTransforms[2 * (b * n + x) + 1] = rowSpectrum[2 * b + 1];
      }
    }
    for (let b = 0; b < H; b++) {
      fft.transform(out1, rowTransformColumns[b]);
      out.set(out1, 2 * b * n);
    }
  }

  /** Loads w0 (row-major, n x n) as the state. */
  load(w0: Float64Array): void {
    this.forward(w0, this.w);
  }

  /** The state on the grid, row-major, into `out`. */
  field(out: Float64Array): void {
    const { n, half: H, w, fft, in1, out1, velocityRows, velocity } = this;
    const scale = 1 / (n * n);
    for (let b = 0; b < H; b++) {
      for (let a = 0; a < 2 * n; a++) in1[a] = scale * w[2 * b * n + a];
      fft.transform(out1, in1);
      for (let m = 0; m < n; m++) {
        const row = velocityRows[m === 0 ? 0 : n - m];
        const re = out1[2 * m], im = out1[2 * m + 1];
        // A real row has real coefficients at k_y = 0 and N/2 (the authors' .real) and
        // conjugate ones at -k_y.
        if (b === 0 || b === n / 2) {
          row[2 * b] = re;
          row[2 * b + 1] = 0;
        } else {
          row[2 * b] = re;
          row[2 * b + 1] = im;
          row[2 * (n - b)] = re;
          row[2 * (n - b) + 1] = -im;
        }
      }
    }
    for (let x = 0; x < n; x++) {
      fft.transform(velocity, velocityRows[x]);
      out[x * n] = velocity[0];
      for (let m = 1; m < n; m++) out[x * n + n - m] = velocity[2 * m];
    }
  }

  /** One time step. */
  step(): void {
    const { n, half: H, kept, fft, w, wColumns, invLap, kxInvLap, kxScaled, ky, cnA, force } = this;
    const { in1, in3, in4, out1, out2, out3, out4, velocitySpectra: vel, gradientSpectra: grad, velocityRows, gradientRows } = this;
    // k_x transforms of psi_hat, w_hat, k_x psi_hat and k_x w_hat, column by column; the factors
    // i k_y (constant on a column) and +-i are applied on the way to the rows, where
    // u + i v = (i k_y psi) + i (-i k_x psi) and w_x + i w_y = (i k_x w) + i (i k_y w). The same
    // pass starts the update, w <- cnA w + cnB f_hat.
    for (let b = 0; b < H; b++) {
      const kyb = ky[b];
      const kys = kyb / (n * n);
      const col = b * n;
      if (kyb !== 0) fft.transform(out2, wColumns[b]);
      for (let a = 0; a < n; a++) {
        const m = col + a;
        const re = w[2 * m], im = w[2 * m + 1];
        const g1 = invLap[m], g3 = kxInvLap[m], g4 = kxScaled[a];
        in1[2 * a] = g1 * re;
        in1[2 * a + 1] = g1 * im;
        in3[2 * a] = g3 * re;
        in3[2 * a + 1] = g3 * im;
        in4[2 * a] = g4 * re;
        in4[2 * a + 1] = g4 * im;
        w[2 * m] = cnA[m] * re + force[2 * m];
        w[2 * m + 1] = cnA[m] * im + force[2 * m + 1];
      }
      fft.transform(out3, in3);
      fft.transform(out4, in4);
      if (kyb !== 0) {
        fft.transform(out1, in1);
        for (let m = 0; m < n; m++) {
          const row = m === 0 ? 0 : 2 * n * (n - m), ob = row + 2 * b, oc = row + 2 * (n - b);
          const p1r = kyb * out1[2 * m], p1i = kyb * out1[2 * m + 1];
          const p2r = kys * out2[2 * m], p2i = kys * out2[2 * m + 1];
          const p3r = out3[2 * m], p3i = out3[2 * m + 1];
          const p4r = out4[2 * m], p4i = out4[2 * m + 1];
          // U = i p1, V = -i p3, WX = i p4, WY = i p2; row entries P + i Q at k_y and
          // conj P + i conj Q at -k_y.
          vel[ob] = p3r - p1i;
          vel[ob + 1] = p1r + p3i;
          vel[oc] = -p1i - p3r;
          vel[oc + 1] = p3i - p1r;
          grad[ob] = -p4i - p2r;
          grad[ob + 1] = p4r - p2i;
          grad[oc] = p2r - p4i;
          grad[oc + 1] = -p4r - p2i;
        }
      } else {
        // k_y = 0 or N/2: U = WY = 0, and the real parts of V and WX (the authors' .real).
        for (let m = 0; m < n; m++) {
          const ob = (m === 0 ? 0 : 2 * n * (n - m)) + 2 * b;
          vel[ob] = 0;
          vel[ob + 1] = out3[2 * m + 1];
          grad[ob] = -out4[2 * m + 1];
          grad[ob + 1] = 0;
        }
      }
    }
    // k_y transforms row by row; the products on rows x and x + 1 form one complex field, whose
    // transform gives both rows' transforms (Hermitian and anti-Hermitian parts).
    const { velocity, gradient, product, rowTransforms, rowTransformColumns, cnB } = this;
    for (let x = 0; x < n; x += 2) {
      for (let part = 0; part < 2; part++) {
        fft.transform(velocity, velocityRows[x + part]);
        fft.transform(gradient, gradientRows[x + part]);
        product[part] = velocity[0] * gradient[0] + velocity[1] * gradient[1];
        for (let m = 1; m < n; m++) {
          product[2 * (n - m) + part] = velocity[2 * m] * gradient[2 * m] + velocity[2 * m + 1] * gradient[2 * m + 1];
        }
      }
      fft.transform(out1, product);
      for (let b = 0; b <= kept; b++) {
        const c = b === 0 ? 0 : n - b;
        const zr = out1[2 * b], zi = out1[2 * b + 1], cr = out1[2 * c], ci = out1[2 * c + 1];
        const o = 2 * (b * n + x);
        rowTransforms[o] = 0.5 * (zr + cr);
        rowTransforms[o + 1] = 0.5 * (zi - ci);
        rowTransforms[o + 2] = 0.5 * (zi + ci);
        rowTransforms[o + 3] = 0.5 * (cr - zr);
      }
    }
    // k_x transforms of the kept columns, and -cnB F_hat on the kept modes |k_x|, |k_y| <= kept.
    for (let b = 0; b <= kept; b++) {
      fft.transform(out1, rowTransformColumns[b]);
      const col = b * n;
      for (let a = 0; a <= kept; a++) {
        const m = col + a;
        w[2 * m] -= cnB[m] * out1[2 * a];
        w[2 * m + 1] -= cnB[m] * out1[2 * a + 1];
      }
      for (let a = n - kept; a < n; a++) {
        const m = col + a;
        w[2 * m] -= cnB[m] * out1[2 * a];
        w[2 * m + 1] -= cnB[m] * out1[2 * a + 1];
      }
    }
  }

  /**
   * Zeroes the coefficients below 1e-200. Outside the 2/3-rule box the modes only decay, and
   * would in long runs sink into the subnormal range, where arithmetic is many times slower; at
   * 1e-200 they are far below the round-off of every value they touch.
   */
  private flushTiny(): void {
    const w = this.w;
    for (let m = 0; m < w.length; m++) if (Math.abs(w[m]) < 1e-200) w[m] = 0;
  }

  /** Integrates from w0 and returns the `records` snapshots, `stepsPerRecord` steps apart. */
  solve(w0: Float64Array, stepsPerRecord: number, records: number, dt: number, where: string): Float64Array[] {
    const n = this.n;
    this.load(w0);
    const snapshots: Float64Array[] = [];
    for (let r = 0; r < records; r++) {
      for (let s = 0; s < stepsPerRecord; s++) this.step();
      this.flushTiny();
      const out = new Float64Array(n * n);
      this.field(out);
      for (let m = 0; m < n * n; m++) {
        if (!Number.isFinite(out[m])) {
          throw new RangeError(`petscml: ${where}: the solution is not finite at t = ${(r + 1) * stepsPerRecord * dt} (the time step ${dt} is too large)`);
        }
      }
      snapshots.push(out);
    }
    return snapshots;
  }
}

/**
 * Integrates the 2-D vorticity equation d_t w + u . grad w = nu Lap w + f on the unit torus from
 * w0 (n x n, row-major, [i * n + j] at x = i / n, y = j / n) with the authors' scheme (`ns_2d.py`):
 * psi_hat = w_hat / (4 pi^2 |k|^2), u = (d_y psi, -d_x psi) and grad w by spectral
 * differentiation, the product u . grad w on the grid with its transform masked by the 2/3 rule
 * (|k_x|, |k_y| <= n/3), and
 *
 *   w_hat <- [(1 - dt nu 2 pi^2 |k|^2) w_hat + dt (f_hat - F_hat)] / (1 + dt nu 2 pi^2 |k|^2)
 *
 * (Crank-Nicolson on viscosity, forward Euler on advection and forcing), float64. Returns the
 * snapshots at t = recordEvery, 2 recordEvery, ..., T, each n x n in the layout of w0.
 *
 * Cost: about 5 n complex FFTs of n points per step.
 *
 * @param w0 the initial vorticity; its length must be n^2 for a power of two n >= 4.
 * @throws TypeError for an input or option of the wrong type, RangeError for a bad length or
 * value, or when the solution blows up (dt too large).
 */
export function solveNavierStokes2d(w0: Float64Array, options?: NavierStokesSolveOptions): Float64Array[] {
  const where = 'solveNavierStokes2d';
  if (!(w0 instanceof Float64Array)) throw new TypeError(`petscml: ${where}: w0 must be a Float64Array, got ${show(w0)}`);
  const n = Math.round(Math.sqrt(w0.length));
  if (n * n !== w0.length) fail(where, `w0.length must be n * n for a power of two n >= 4, got ${w0.length}`);
  checkGridSize(where, 'sqrt(w0.length)', n);
  const p = solveParameters(where, options, n, undefined);
  return new VorticityStepper(n, p).solve(w0, p.stepsPerRecord, p.records, p.dt, where);
}

/**
 * Generates the Navier-Stokes data set: `train` samples then `test` samples from one stream
 * seeded by `seed` (same options, same bytes). For each sample, w0 is drawn on the N x N
 * simulation grid (`sampleVorticityInitial`), integrated to T = (tIn + tOut) recordEvery
 * (`solveNavierStokes2d`), and the snapshots are subsampled by striding (every N / s-th point in
 * each direction) to float32 rows in the [x, y, t] order of the authors' arrays.
 *
 * Cost is linear in samples x T / dt and about N^2 log N per step, almost all of it in the
 * ~5 N transforms of N points of a step: with the defaults (32^2, dt = 5e-3, T = 20, 4000
 * steps) measured 0.45 s per sample on one core of a loaded 2-core machine (113 s for the 250
 * samples); dt = 1e-2 halves that for twice the time error (1e-3 .. 1.5e-3 at t = 20).
 *
 * @throws TypeError for an option of the wrong type, RangeError for a value out of range (the
 * message names the option and the value).
 */
export function navierStokes2d(options: NavierStokes2dOptions = {}): NavierStokes2d {
  const where = 'navierStokes2d';
  checkObject(where, 'options', options);
  const train = integerOption(where, 'train', options.train, 200, 1);
  const test = integerOption(where, 'test', options.test, 50, 1);
  const resolution = integerOption(where, 'resolution', options.resolution, 32, 4);
  if (options.simulationResolution === undefined && !isPowerOfTwo(resolution)) {
    fail(where, `resolution must be a power of two (fft.js sizes) unless simulationResolution is given, got ${resolution}`);
  }
  const simulationResolution = options.simulationResolution ?? resolution;
  checkGridSize(where, 'simulationResolution', simulationResolution);
  if (simulationResolution % resolution !== 0) {
    fail(
      where,
      `simulationResolution must be a multiple of resolution, got simulationResolution = ${simulationResolution}, resolution = ${resolution}`,
    );
  }
  const tIn = integerOption(where, 'tIn', options.tIn, 10, 1);
  const tOut = integerOption(where, 'tOut', options.tOut, 10, 1);
  const seed = numberOption(where, 'seed', options.seed, 1234);
  if (!Number.isSafeInteger(seed)) fail(where, `seed must be an integer, got ${seed}`);
  if ((options as { T?: unknown }).T !== undefined) {
    fail(where, `T is set by tIn + tOut (T = (tIn + tOut) recordEvery), got T = ${show((options as { T?: unknown }).T)}`);
  }
  const init = initialParameters(where, options);
  const n = simulationResolution;
  const solve = solveParameters(where, options, n, tIn + tOut);
  const onProgress = options.onProgress;
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new TypeError(`petscml: ${where}: onProgress must be a function, got ${show(onProgress)}`);
  }

  const s = resolution;
  const stride = n / s;
  const rng = new Random(seed);
  const sampler = new VorticitySampler(n, init);
  const stepper = new VorticityStepper(n, solve);
  const w0 = new Float64Array(n * n);
  const total = train + test;
  let done = 0;
  const make = (count: number): ArrayDataset => {
    const xCols = s * s * tIn;
    const yCols = s * s * tOut;
    const x = new Float32Array(count * xCols);
    const y = new Float32Array(count * yCols);
    for (let r = 0; r < count; r++) {
      sampler.draw(rng, w0);
      const snapshots = stepper.solve(w0, solve.stepsPerRecord, tIn + tOut, solve.dt, where);
      for (let k = 0; k < tIn + tOut; k++) {
        const snap = snapshots[k];
        const [target, cols, steps, t] = k < tIn ? [x, xCols, tIn, k] : [y, yCols, tOut, k - tIn];
        const base = r * cols;
        for (let i = 0; i < s; i++) {
          for (let j = 0; j < s; j++) target[base + (i * s + j) * steps + t] = snap[i * stride * n + j * stride];
        }
      }
      done++;
      onProgress?.(done, total);
    }
    return { x: { values: x, shape: [count, xCols] }, y: { values: y, shape: [count, yCols] } };
  };
  const trainSet = make(train);
  const testSet = make(test);
  const times = Float64Array.from({ length: tIn + tOut }, (_, k) => (k + 1) * solve.recordEvery);
  const positions = Float32Array.from({ length: s }, (_, i) => i / s);
  return {
    train: trainSet,
    test: testSet,
    resolution,
    simulationResolution,
    tIn,
    tOut,
    times,
    positions,
    nu: solve.nu,
    dt: solve.dt,
    recordEvery: solve.recordEvery,
    stepsPerRecord: solve.stepsPerRecord,
    forcing: solve.forcingName,
    ...init,
    seed,
  };
}
