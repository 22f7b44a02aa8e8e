/**
 * The 1-D advection cases of POD-DeepONet (Lu et al. 2022 §5.4.1, "Advection II/III"; PETScML
 * §4.2.2): learn
 *
 *   u0 -> u(x, t)  for  u_t + u_x = 0  on x in [0, 1] periodic, t in [0, 1],
 *
 * whose solution is the translate u(x, t) = u0((x - t) mod 1). The data are closed form, so they
 * are generated here, seeded and deterministic, with the authors' initial conditions
 * (`lu-group/deeponet-fno` `data/advection/main.py`, `advection.py`; shared/reference/CASES.md §5):
 *
 * - case 1 (the paper's case I, Lu's Advection II): a square wave h 1[c - w/2, c + w/2], endpoints
 *   included, h ~ U[1, 2], w ~ U[0.3, 0.6], c ~ U[0.3, 0.7];
 * - case 2 (case II, Advection III): a square wave plus a half ellipse,
 *   h1 H(y - c1 + w/2) H(c1 + w/2 - y) + sqrt(max(h2^2 - a^2 (y - c2)^2, 0)) with H the Heaviside
 *   function, H(0) = 1/2, c1 ~ U[0.2, 0.3], w ~ U[0.1, 0.2], h1 ~ U[0.5, 2], c2 ~ U[0.7, 0.8],
 *   a ~ U[5, 10], h2 ~ U[0.5, 2]. As in the authors' code, u0 is this formula on [0, 1) repeated
 *   with period 1: an ellipse reaching past y = 1 (h2 / a up to 0.4) is cut there, not wrapped;
 * - grid: DeepXDE's `uniform_points(1600, boundary=True)`, 40 x-points linspace(0, 1, 40) times 40
 *   t-points linspace(0, 1, 40), time-major. Both x = 0 and x = 1 are kept (equal by periodicity).
 *
 * numpy's random stream cannot be reproduced, so this matches the authors' distribution, not their
 * bytes.
 */

import { Random, type ArrayDataset } from './darcy1d';
import { checkObject, fail, integerOption, numberOption, show } from './options';

/** Case 1: the square wave h 1[c - w/2, c + w/2]. */
export interface SquareWave {
  case: 1;
  /** Height, U[1, 2]. */
  h: number;
  /** Width, U[0.3, 0.6]. */
  w: number;
  /** Centre, U[0.3, 0.7]. */
  c: number;
}

/** Case 2: a square wave of height h1, width w, centre c1 plus the half ellipse sqrt(max(h2^2 - a^2 (y - c2)^2, 0)). */
export interface SquareWaveEllipse {
  case: 2;
  /** Square-wave centre, U[0.2, 0.3]. */
  c1: number;
  /** Square-wave width, U[0.1, 0.2]. */
  w: number;
  /** Square-wave height, U[0.5, 2]. */
  h1: number;
  /** Ellipse centre, U[0.7, 0.8]. */
  c2: number;
  /** Ellipse inverse half-width per unit height, U[5, 10] (half-width h2 / a). */
  a: number;
  /** Ellipse height, U[0.5, 2]. */
  h2: number;
}

export type AdvectionInitial = SquareWave | SquareWaveEllipse;

/**
 * Draws the parameters of one initial condition, with the authors' ranges, in their draw order
 * (case 1: h, w, c; case 2: c1, w, h1, c2, a, h2), one uniform each.
 */
export function drawAdvectionInitial(rng: Random, kind: 1 | 2 = 1): AdvectionInitial {
  const where = 'drawAdvectionInitial';
  if (!(rng instanceof Random)) throw new TypeError(`petscml: ${where}: rng must be a Random, got ${show(rng)}`);
  checkCase(where, 'kind', kind);
  if (kind === 1) {
    const h = rng.uniform() + 1;
    const w = 0.3 * rng.uniform() + 0.3;
    const c = 0.4 * rng.uniform() + 0.3;
    return { case: 1, h, w, c };
  }
  const c1 = 0.1 * rng.uniform() + 0.2;
  const w = 0.1 * rng.uniform() + 0.1;
  const h1 = 1.5 * rng.uniform() + 0.5;
  const c2 = 0.1 * rng.uniform() + 0.7;
  const a = 5 * rng.uniform() + 5;
  const h2 = 1.5 * rng.uniform() + 0.5;
  return { case: 2, c1, w, h1, c2, a, h2 };
}

function checkCase(where: string, name: string, value: unknown): 1 | 2 {
  if (typeof value !== 'number') throw new TypeError(`petscml: ${where}: ${name} must be 1 or 2, got ${show(value)}`);
  if (value !== 1 && value !== 2) fail(where, `${name} must be 1 or 2, got ${value}`);
  return value;
}

function heaviside(v: number): number {
  return v > 0 ? 1 : v < 0 ? 0 : 0.5;
}

/** u0 at y in [0, 1) (the caller reduces y mod 1). */
function initialAt(p: AdvectionInitial, y: number): number {
  if (p.case === 1) return y >= p.c - p.w / 2 && y <= p.c + p.w / 2 ? p.h : 0;
  const square = p.h1 * heaviside(y - (p.c1 - p.w / 2)) * heaviside(p.c1 + p.w / 2 - y);
  const d = p.a * (y - p.c2);
  return square + Math.sqrt(Math.max(p.h2 * p.h2 - d * d, 0));
}

/**
 * The exact solution u(x, t) = u0((x - t) mod 1) of u_t + u_x = 0, with the residue in [0, 1) as
 * numpy's `//` gives it (so u(1, 0) = u0(0)).
 */
export function advectionSolution(p: AdvectionInitial, x: number, t: number): number {
  const where = 'advectionSolution';
  if (typeof p !== 'object' || p === null) throw new TypeError(`petscml: ${where}: p must be an object, got ${show(p)}`);
  checkCase(where, 'p.case', p.case);
  if (typeof x !== 'number' || typeof t !== 'number') {
    throw new TypeError(`petscml: ${where}: x and t must be numbers, got ${show(x)} and ${show(t)}`);
  }
  const d = x - t;
  return initialAt(p, d - Math.floor(d));
}

export interface AdvectionOptions {
  /** 1: square wave (default); 2: square wave plus half ellipse. */
  case?: 1 | 2;
  /** Training samples (default 1000). */
  train?: number;
  /** Test samples (default 1000). */
  test?: number;
  /** Grid points per axis, linspace(0, 1, points) in x and in t (default 40, at least 2). */
  points?: number;
  /** Seed of the one random stream that draws the training samples, then the test samples (default 1234). */
  seed?: number;
}

/** The generated data set and the parameters that made it. */
export interface Advection {
  /**
   * x rows: u0 on the x grid (the branch input u[:, 0, :], [train, points]); y rows: u on the
   * whole grid, time-major, u(x_i, t_j) at [j * points + i] ([train, points^2]), the authors'
   * u.reshape(N, 1600).
   */
  train: ArrayDataset;
  /** Same layout, [test, points] and [test, points^2]. */
  test: ArrayDataset;
  /** The parameters of each training sample's initial condition. */
  trainInitial: AdvectionInitial[];
  testInitial: AdvectionInitial[];
  /** x of each output point, [points^2], time-major (x_i at [j * points + i]): the authors' x.ravel(). */
  x: Float32Array;
  /** t of each output point, [points^2] (t_j at [j * points + i]). */
  t: Float32Array;
  /** The trunk input: (x, t) pairs of the output points, [points^2, 2] row-major. */
  coordinates: { values: Float32Array; shape: [number, number] };
  case: 1 | 2;
  points: number;
  seed: number;
}

/**
 * Generates the advection data set: `train` samples, then `test` samples, from one stream seeded
 * by `seed` (same options, same bytes), each sample's parameters drawn by `drawAdvectionInitial`
 * and evaluated exactly on the grid. Closed form: 0.07 s (case 1) and 0.15 s (case 2) at the
 * defaults.
 *
 * @throws TypeError for an option of the wrong type, RangeError for a value out of range (the
 * message names the option and the value).
 */
export function advection(options: AdvectionOptions = {}): Advection {
  const where = 'advection';
  checkObject(where, 'options', options);
  const kind = options.case === undefined ? 1 : checkCase(where, 'case', options.case);
  const train = integerOption(where, 'train', options.train, 1000, 1);
  const test = integerOption(where, 'test', options.test, 1000, 1);
  const n = integerOption(where, 'points', options.points, 40, 2);
  if (n > 1000) fail(where, `points must be at most 1000 (points^2 outputs per sample), got ${n}`);
  const seed = numberOption(where, 'seed', options.seed, 1234);
  if (!Number.isSafeInteger(seed)) fail(where, `seed must be an integer, got ${seed}`);

  const grid = new Float64Array(n);
  for (let i = 0; i < n; i++) grid[i] = i / (n - 1);
  const rng = new Random(seed);
  const make = (count: number): [ArrayDataset, AdvectionInitial[]] => {
    const x = new Float32Array(count * n);
    const y = new Float32Array(count * n * n);
    const initial: AdvectionInitial[] = [];
    for (let s = 0; s < count; s++) {
      const p = drawAdvectionInitial(rng, kind);
      initial.push(p);
      for (let j = 0; j < n; j++) {
        for (let i = 0; i < n; i++) {
          const d = grid[i] - grid[j];
          y[(s * n + j) * n + i] = initialAt(p, d - Math.floor(d));
        }
      }
      // the t = 0 row, as the authors' branch input u[:, 0, :]
      x.set(y.subarray(s * n * n, s * n * n + n), s * n);
    }
    return [{ x: { values: x, shape: [count, n] }, y: { values: y, shape: [count, n * n] } }, initial];
  };
  const [trainSet, trainInitial] = make(train);
  const [testSet, testInitial] = make(test);
  const xs = new Float32Array(n * n);
  const ts = new Float32Array(n * n);
  const coordinates = new Float32Array(2 * n * n);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const q = j * n + i;
      xs[q] = grid[i];
      ts[q] = grid[j];
      coordinates[2 * q] = grid[i];
      coordinates[2 * q + 1] = grid[j];
    }
  }
  return {
    train: trainSet,
    test: testSet,
    trainInitial,
    testInitial,
    x: xs,
    t: ts,
    coordinates: { values: coordinates, shape: [n * n, 2] },
    case: kind,
    points: n,
    seed,
  };
}
