/**
 * The embedded default problem: learn the solution operator of 1-D Darcy flow,
 *
 *   -(a(s) u'(s))' = 1 on (0, 1),  u(0) = u(1) = 0,
 *
 * from the log-permeability log a to the pressure u. The map is nonlinear in a, smooth, and
 * cheap to sample, so the data set is generated here (seeded, deterministic) instead of shipped.
 * Permeabilities are log-normal random fields, log a(s) = sum_{k=1..K} xi_k sin(k pi s) / k with
 * xi_k ~ N(0, sigma^2); each sample is solved with second-order finite differences on a uniform
 * grid (a tridiagonal system, Thomas algorithm, float64).
 */

/** A seeded generator (mulberry32) with Box-Muller normals, so data sets are reproducible. */
export class Random {
  private state: number;
  private spare: number | undefined;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}

export interface Darcy1dOptions {
  /** Training samples (default 1000). */
  train?: number;
  /** Test samples (default 200). */
  test?: number;
  /** Grid points including both ends (default 33): inputs have this many values, outputs two fewer. */
  points?: number;
  /** Random modes in log a (default 6). */
  modes?: number;
  /** Standard deviation of each mode's coefficient (default 1). */
  sigma?: number;
  seed?: number;
}

/** Samples stored row-major: x is [n, points] (log a on the grid), y is [n, points - 2] (u inside). */
export interface ArrayDataset {
  x: { values: Float32Array; shape: [number, number] };
  y: { values: Float32Array; shape: [number, number] };
}

export interface Darcy1d {
  train: ArrayDataset;
  test: ArrayDataset;
  points: number;
  /** Outputs are u scaled by this factor (8: the constant-coefficient solution peaks at 1). */
  outputScale: number;
}

/**
 * Solves -(a u')' = 1 with u = 0 at both ends for a given on the grid (length m + 2 points);
 * a at cell midpoints is the harmonic mean of its neighbours, the usual choice for Darcy flow.
 * Returns u at the m interior points.
 */
export function solveDarcy1d(a: Float64Array): Float64Array {
  const np = a.length;
  if (np < 3) throw new Error('petscml: solveDarcy1d needs at least 3 grid points');
  const m = np - 2;
  const h = 1 / (np - 1);
  const mid = new Float64Array(np - 1);
  for (let i = 0; i < np - 1; i++) mid[i] = (2 * a[i] * a[i + 1]) / (a[i] + a[i + 1]);
  // Row i (interior point i+1): -mid[i] u_i + (mid[i] + mid[i+1]) u_{i+1} - mid[i+1] u_{i+2} = h^2.
  const c = new Float64Array(m);
  const d = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    const lower = i > 0 ? -mid[i] : 0;
    const diag = mid[i] + mid[i + 1];
    const upper = -mid[i + 1];
    const denom = diag - lower * (i > 0 ? c[i - 1] : 0);
    c[i] = upper / denom;
    d[i] = (h * h - lower * (i > 0 ? d[i - 1] : 0)) / denom;
  }
  const u = new Float64Array(m);
  u[m - 1] = d[m - 1];
  for (let i = m - 2; i >= 0; i--) u[i] = d[i] - c[i] * u[i + 1];
  return u;
}

function sample(n: number, points: number, modes: number, sigma: number, rng: Random, scale: number): ArrayDataset {
  const x = new Float32Array(n * points);
  const y = new Float32Array(n * (points - 2));
  const a = new Float64Array(points);
  const xi = new Float64Array(modes);
  for (let s = 0; s < n; s++) {
    for (let k = 0; k < modes; k++) xi[k] = sigma * rng.normal();
    for (let i = 0; i < points; i++) {
      const t = i / (points - 1);
      let loga = 0;
      for (let k = 0; k < modes; k++) loga += (xi[k] * Math.sin((k + 1) * Math.PI * t)) / (k + 1);
      x[s * points + i] = loga;
      a[i] = Math.exp(loga);
    }
    const u = solveDarcy1d(a);
    for (let i = 0; i < points - 2; i++) y[s * (points - 2) + i] = scale * u[i];
  }
  return { x: { values: x, shape: [n, points] }, y: { values: y, shape: [n, points - 2] } };
}

/** Generates the training and test sets (independent draws from one seeded stream). */
export function darcy1d(options: Darcy1dOptions = {}): Darcy1d {
  const train = options.train ?? 1000;
  const test = options.test ?? 200;
  const points = options.points ?? 33;
  const modes = options.modes ?? 6;
  const sigma = options.sigma ?? 1;
  for (const [k, v] of Object.entries({ train, test, points, modes })) {
    if (!Number.isInteger(v) || v < 1) throw new Error(`petscml: darcy1d: ${k} must be a positive integer, got ${v}`);
  }
  if (points < 3) throw new Error(`petscml: darcy1d: points must be at least 3, got ${points}`);
  if (!(sigma >= 0 && Number.isFinite(sigma))) throw new Error(`petscml: darcy1d: sigma must be a finite number >= 0, got ${sigma}`);
  const rng = new Random(options.seed ?? 1234);
  const outputScale = 8;
  return {
    train: sample(train, points, modes, sigma, rng, outputScale),
    test: sample(test, points, modes, sigma, rng, outputScale),
    points,
    outputScale,
  };
}
