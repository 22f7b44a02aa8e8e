/**
 * The derivative-check suite, run per backend (one test file per backend: the backend is
 * process-global and vitest forks one process per file).
 *
 * Tolerance: results are compared norm-wise, ||tfjs - ref|| / ||ref||, against the float64
 * reference. tfjs rounds every op to float32 (unit roundoff u = 6e-8); on these small nets
 * (<= 6 ops per path, sums of <= 40 terms) the measured errors are <= 3.3e-7 (~6 u) for f, g, Hv
 * and GN v on cpu and wasm (PETSCML_SHOW_ERRORS=1 prints them). TOL = 1e-5 (~170 u) allows for
 * cancellation on other inputs and is still 1000x below the errors of the bugs this suite exists
 * to catch (stock tanh: ~30%, sigmoid: ~2%, a dropped second-order term: O(1)).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import {
  createTfjsFunction, TfjsFunction, geluTanh, geluErf, rational, dftBasis, fourierLayer1d,
  meanSquaredRelativeError, stockGradientConfig, installedGradientConfig, type BackendName,
} from '../../src/functions';
import { deeponet, fno1d, fno3d, greenLearning, podBasis, podDeeponet } from '../../src/models';
import { Tape, Node, M, acts, matmul, matmulConst, softmaxRows, mse, msre, reference } from './reference';

export const TOL = 1e-5;

export function relErr(a: Float64Array | number[], b: Float64Array | number[]): number {
  let num = 0; let den = 0;
  for (let i = 0; i < b.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
  return Math.sqrt(num / den);
}

/** Deterministic pseudo-random numbers (no dependence on tfjs's generator). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32 * 2 - 1; };
}

const IN = 3; const HID = 5; const OUT = 2; const N = 4;

function randArray(n: number, r: () => number, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => scale * r());
}

function toRows(a: ArrayLike<number>, rows: number, cols: number): number[][] {
  return Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => a[i * cols + j]));
}

type TfAct = (x: tf.Tensor) => tf.Tensor;
const tfActs: Record<string, TfAct> = {
  tanh: tf.tanh, sigmoid: tf.sigmoid, exp: tf.exp, elu: tf.elu, relu: tf.relu, sin: tf.sin,
  softplus: tf.softplus, geluTanh, geluErf, linear: x => x,
};

interface Case {
  fn: TfjsFunction;
  w: Float64Array;
  v: Float64Array;
  build: (t: Tape, p: Node[]) => M;
  loss: (t: Tape, z: M) => Node;
}

/** 3 -> 5 (act) -> 2 MLP as a plain-function model, and its float64 twin. */
async function mlpCase(act: string, seed: number, opts: { msreLoss?: boolean; softmax?: boolean } = {}): Promise<Case> {
  const r = rng(seed);
  const xs = randArray(N * IN, r);
  const ys = randArray(N * OUT, r);
  const sizes = { w1: IN * HID, b1: HID, w2: HID * OUT, b2: OUT };
  const w = randArray(sizes.w1 + sizes.b1 + sizes.w2 + sizes.b2, r, 0.8);
  const v = randArray(w.length, r);
  const hidden: TfAct = opts.softmax ? (x => tf.softmax(x)) : tfActs[act];
  const fn = await createTfjsFunction({
    quiet: true,
    model: {
      params: { w1: tf.zeros([IN, HID]), b1: tf.zeros([HID]), w2: tf.zeros([HID, OUT]), b2: tf.zeros([OUT]) },
      apply: (p, x) => tf.add(tf.matMul(hidden(tf.add(tf.matMul(x, p.w1), p.b1)), p.w2), p.b2),
    },
    loss: opts.msreLoss ? meanSquaredRelativeError : 'mse',
    data: { x: { values: xs, shape: [N, IN] }, y: { values: ys, shape: [N, OUT] } },
  });
  const X = toRows(xs, N, IN);
  const Y = toRows(ys, N, OUT);
  const build = (t: Tape, p: Node[]): M => {
    let k = 0;
    const take = (rows: number, cols: number): M => Array.from({ length: rows }, () => Array.from({ length: cols }, () => p[k++]));
    const W1 = take(IN, HID); const B1 = take(1, HID)[0]; const W2 = take(HID, OUT); const B2 = take(1, OUT)[0];
    const xN = X.map(row => row.map(c => t.const(c)));
    let h = matmul(t, xN, W1).map(row => row.map((z, j) => t.add(z, B1[j])));
    h = opts.softmax ? softmaxRows(t, h) : h.map(row => row.map(z => acts[act](t, z)));
    return matmul(t, h, W2).map(row => row.map((z, j) => t.add(z, B2[j])));
  };
  return { fn, w, v, build, loss: (t, z) => (opts.msreLoss ? msre : mse)(t, z, Y) };
}

/** A rational-activation MLP: trainable coefficients a [4], b [3]. */
async function rationalCase(seed: number): Promise<Case> {
  const r = rng(seed);
  const xs = randArray(N * IN, r);
  const ys = randArray(N * OUT, r);
  const nW = IN * HID + HID + HID * OUT + OUT;
  const w = Float64Array.from([...randArray(nW, r, 0.8), 1.1915, 1.5957, 0.5, 0.0218, 2.383, 0.1, 1.0]);
  const v = randArray(w.length, r);
  const fn = await createTfjsFunction({
    quiet: true,
    model: {
      params: { w1: tf.zeros([IN, HID]), b1: tf.zeros([HID]), w2: tf.zeros([HID, OUT]), b2: tf.zeros([OUT]), a: tf.zeros([4]), b: tf.zeros([3]) },
      apply: (p, x) => tf.add(tf.matMul(rational(tf.add(tf.matMul(x, p.w1), p.b1), p.a, p.b), p.w2), p.b2),
    },
    data: { x: { values: xs, shape: [N, IN] }, y: { values: ys, shape: [N, OUT] } },
  });
  const X = toRows(xs, N, IN); const Y = toRows(ys, N, OUT);
  const build = (t: Tape, p: Node[]): M => {
    let k = 0;
    const take = (rows: number, cols: number): M => Array.from({ length: rows }, () => Array.from({ length: cols }, () => p[k++]));
    const W1 = take(IN, HID); const B1 = take(1, HID)[0]; const W2 = take(HID, OUT); const B2 = take(1, OUT)[0];
    const A = take(1, 4)[0]; const B = take(1, 3)[0];
    const rat = (x: Node) => {
      const x2 = t.mul(x, x); const x3 = t.mul(x2, x);
      const P = t.sum([A[0], t.mul(A[1], x), t.mul(A[2], x2), t.mul(A[3], x3)]);
      const Q = t.sum([B[0], t.mul(B[1], x), t.mul(B[2], x2)]);
      return t.div(P, Q);
    };
    const xN = X.map(row => row.map(c => t.const(c)));
    const h = matmul(t, xN, W1).map(row => row.map((z, j) => rat(t.add(z, B1[j]))));
    return matmul(t, h, W2).map(row => row.map((z, j) => t.add(z, B2[j])));
  };
  return { fn, w, v, build, loss: (t, z) => mse(t, z, Y) };
}

/**
 * Lift (1 -> C channels) -> Fourier layer (DFT matrices, M modes) -> gelu -> project (C -> 1).
 * The reference computes the truncated DFT from its own definition, in float64.
 */
async function fourierCase(seed: number): Promise<Case> {
  const B = 2; const n = 8; const C = 2; const modes = 3;
  const r = rng(seed);
  const xs = randArray(B * n, r);
  const ys = randArray(B * n, r);
  const sizes = [C, modes * C * C, modes * C * C, C];
  const w = randArray(sizes.reduce((a, b) => a + b), r, 0.8);
  const v = randArray(w.length, r);
  const basis = dftBasis(n, modes);
  const fn = await createTfjsFunction({
    quiet: true,
    model: {
      params: { lift: tf.zeros([1, C]), wRe: tf.zeros([modes, C, C]), wIm: tf.zeros([modes, C, C]), proj: tf.zeros([C, 1]) },
      apply: (p, x) => {
        const lifted = tf.reshape(tf.matMul(tf.reshape(x, [B * n, 1]), p.lift), [B, n, C]) as tf.Tensor3D;
        const f = geluTanh(fourierLayer1d(lifted, p.wRe as tf.Tensor3D, p.wIm as tf.Tensor3D, basis));
        return tf.reshape(tf.matMul(tf.reshape(f, [B * n, C]), p.proj), [B, n]);
      },
    },
    data: { x: { values: xs, shape: [B, n] }, y: { values: ys, shape: [B, n] } },
  });
  const X = toRows(xs, B, n); const Y = toRows(ys, B, n);
  const build = (t: Tape, p: Node[]): M => {
    let k = 0;
    const lift = Array.from({ length: C }, () => p[k++]);
    const wRe = Array.from({ length: modes }, () => Array.from({ length: C }, () => Array.from({ length: C }, () => p[k++])));
    const wIm = Array.from({ length: modes }, () => Array.from({ length: C }, () => Array.from({ length: C }, () => p[k++])));
    const proj = Array.from({ length: C }, () => p[k++]);
    return X.map(row => {
      const a = row.map(xj => lift.map(l => t.scale(l, xj))); // [n][C]
      // X_k^c = sum_j a_j^c e^{-2 pi i k j / n}
      const re = Array.from({ length: modes }, (_, kk) => Array.from({ length: C }, (_, c) =>
        t.sum(a.map((aj, j) => t.scale(aj[c], Math.cos(2 * Math.PI * kk * j / n))))));
      const im = Array.from({ length: modes }, (_, kk) => Array.from({ length: C }, (_, c) =>
        t.sum(a.map((aj, j) => t.scale(aj[c], -Math.sin(2 * Math.PI * kk * j / n))))));
      // Y_k^o = sum_c X_k^c W_k^{c,o} (complex)
      const oRe = re.map((rk, kk) => Array.from({ length: C }, (_, o) => t.sum(rk.map((xr, c) =>
        t.sub(t.mul(xr, wRe[kk][c][o]), t.mul(im[kk][c], wIm[kk][c][o]))))));
      const oIm = re.map((rk, kk) => Array.from({ length: C }, (_, o) => t.sum(rk.map((xr, c) =>
        t.add(t.mul(xr, wIm[kk][c][o]), t.mul(im[kk][c], wRe[kk][c][o]))))));
      // y_j = (1/n) Re sum over the Hermitian-extended spectrum (modes 1.. counted twice).
      return Array.from({ length: n }, (_, j) => {
        const outs = Array.from({ length: C }, (_, o) => {
          const terms: Node[] = [];
          for (let kk = 0; kk < modes; kk++) {
            const wgt = (kk === 0 ? 1 : 2) / n;
            const th = 2 * Math.PI * kk * j / n;
            terms.push(t.scale(oRe[kk][o], wgt * Math.cos(th)), t.scale(oIm[kk][o], -wgt * Math.sin(th)));
          }
          return acts.geluTanh(t, t.sum(terms));
        });
        return t.sum(outs.map((h, o) => t.mul(h, proj[o])));
      });
    });
  };
  return { fn, w, v, build, loss: (t, z) => mse(t, z, Y) };
}

type Entries = Map<string, { offset: number; shape: readonly number[] }>;

/** The float64 twin's view of a flat parameter vector by the model's names: p at name[i, j, ...], and name_w / name_b as a dense layer. */
function named(t: Tape, p: Node[], entries: Entries) {
  const at = (name: string) => {
    const e = entries.get(name);
    if (!e) throw new Error(`no parameter ${name}`);
    return (...idx: number[]) => {
      let k = 0;
      for (let d = 0; d < idx.length; d++) k = k * e.shape[d] + idx[d];
      return p[e.offset + k];
    };
  };
  const dense = (h: Node[], name: string, nOut: number) => {
    const wt = at(`${name}_w`); const b = at(`${name}_b`);
    return Array.from({ length: nOut }, (_, o) => t.add(t.sum(h.map((hi, i) => t.mul(hi, wt(i, o)))), b(o)));
  };
  return { at, dense };
}

/**
 * The whole FNO-1D builder at toy size (s = 8, width 2, 2 modes, 2 Fourier layers, projection 3,
 * erf GELU, loss eq. 6), against a float64 twin written from CASES.md 2.4 and 1.4: the coordinate
 * channel, fc0, spectral + 1x1 convolution per layer with GELU after all but the last, fc1 + GELU,
 * fc2. A wrong wiring in the builder (an activation too many, a transposed weight) fails f already.
 */
async function fnoCase(seed: number): Promise<Case> {
  const B = 2; const s = 8; const W = 2; const modes = 2; const L = 2; const P = 3;
  const r = rng(seed);
  const xs = randArray(B * s, r);
  const ys = randArray(B * s, r);
  const model = fno1d({ resolution: s, width: W, modes, layers: L, projection: P, seed });
  const fn = await createTfjsFunction({ quiet: true, model, loss: meanSquaredRelativeError,
    data: { x: { values: xs, shape: [B, s] }, y: { values: ys, shape: [B, s] } } });
  // Weights of order one, so the spectral path matters as much as the local one.
  const w = randArray(fn.size, r, 0.8);
  const v = randArray(fn.size, r);
  const entries = new Map(fn.layout.entries.map((e) => [e.name, e]));
  const X = toRows(xs, B, s); const Y = toRows(ys, B, s);
  const build = (t: Tape, p: Node[]): M => {
    const { at, dense } = named(t, p, entries);
    return X.map((row) => {
      let h: Node[][] = row.map((a, j) => dense([t.const(a), t.const(j / (s - 1))], 'fc0', W));
      for (let l = 0; l < L; l++) {
        const wr = at(`k${l}_re`); const wi = at(`k${l}_im`);
        const re = Array.from({ length: modes }, (_, k) => Array.from({ length: W }, (_, c) =>
          t.sum(h.map((hj, j) => t.scale(hj[c], Math.cos((2 * Math.PI * k * j) / s))))));
        const im = Array.from({ length: modes }, (_, k) => Array.from({ length: W }, (_, c) =>
          t.sum(h.map((hj, j) => t.scale(hj[c], -Math.sin((2 * Math.PI * k * j) / s))))));
        const yRe = re.map((rk, k) => Array.from({ length: W }, (_, o) => t.sum(rk.map((xr, c) => t.sub(t.mul(xr, wr(k, c, o)), t.mul(im[k][c], wi(k, c, o)))))));
        const yIm = re.map((rk, k) => Array.from({ length: W }, (_, o) => t.sum(rk.map((xr, c) => t.add(t.mul(xr, wi(k, c, o)), t.mul(im[k][c], wr(k, c, o)))))));
        h = h.map((hj, j) => {
          const local = dense(hj, `w${l}`, W);
          return local.map((z, o) => {
            const terms: Node[] = [z];
            for (let k = 0; k < modes; k++) {
              const c = (k === 0 ? 1 : 2) / s; const th = (2 * Math.PI * k * j) / s;
              terms.push(t.scale(yRe[k][o], c * Math.cos(th)), t.scale(yIm[k][o], -c * Math.sin(th)));
            }
            const sum = t.sum(terms);
            return l < L - 1 ? acts.geluErf(t, sum) : sum;
          });
        });
      }
      return h.map((hj) => dense(dense(hj, 'fc1', P).map((z) => acts.geluErf(t, z)), 'fc2', 1)[0]);
    });
  };
  return { fn, w, v, build, loss: (t, z) => msre(t, z, Y), dispose: () => model.dispose() } as Case;
}

/**
 * The FNO-3D builder at toy size (4 x 4 grid, T_in 1 -> T 2, time padding 2, width 2, modes
 * (1, 1, 2) so the high x/y corners count, 2 layers, decoded output, loss eq. 6) against a float64
 * twin written from CASES.md 3.4 and 1.4 with direct sums over the grid: repeat + grid channels,
 * fc0, zero padding in time, rfftn corners + mixing + irfftn and 1x1x1 convolution per layer, crop,
 * fc1 + GELU, fc2, decoder.
 */
async function fno3dCase(seed: number): Promise<Case & { dispose(): void }> {
  const B = 2; const s = 4; const tIn = 1; const tOut = 2; const pad = 2; const W = 2; const L = 2; const P = 2;
  const modes = [1, 1, 2]; const nt = tOut + pad;
  const r = rng(seed);
  const outPoints = s * s * tOut;
  const xs = randArray(B * s * s * tIn, r);
  const ys = randArray(B * outPoints, r);
  const mean = randArray(outPoints, r, 0.3); const std = Float64Array.from(randArray(outPoints, r, 0.5), (v) => 1 + v);
  const model = fno3d({ resolution: s, inputSteps: tIn, outputSteps: tOut, padding: pad, width: W, modes: [1, 1, 2], layers: L, projection: P, seed, decode: { mean, std } });
  const fn = await createTfjsFunction({ quiet: true, model, loss: meanSquaredRelativeError,
    data: { x: { values: xs, shape: [B, s * s * tIn] }, y: { values: ys, shape: [B, outPoints] } } });
  const w = randArray(fn.size, r, 0.8);
  const v = randArray(fn.size, r);
  const entries = new Map(fn.layout.entries.map((e) => [e.name, e]));
  const X = toRows(xs, B, s * s * tIn); const Y = toRows(ys, B, outPoints);
  const K1 = 2 * modes[0]; const K2 = 2 * modes[1];
  const freq = (q: number, m: number, n: number) => (q < m ? q : n - 2 * m + q);
  const kept: { mode: number; kx: number; ky: number; kt: number }[] = [];
  for (let qt = 0; qt < modes[2]; qt++) for (let qy = 0; qy < K2; qy++) for (let qx = 0; qx < K1; qx++) {
    kept.push({ mode: (qt * K2 + qy) * K1 + qx, kx: freq(qx, modes[0], s), ky: freq(qy, modes[1], s), kt: qt });
  }
  const lin = (n: number, j: number) => j / (n - 1);
  const build = (t: Tape, p: Node[]): M => {
    const { at, dense } = named(t, p, entries);
    const cells: [number, number, number][] = [];
    for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) for (let l = 0; l < nt; l++) cells.push([i, j, l]);
    const cell = (i: number, j: number, l: number) => (i * s + j) * nt + l;
    return X.map((row) => {
      let h: Node[][] = cells.map(([i, j, l]) => {
        if (l >= tOut) return Array.from({ length: W }, () => t.const(0));
        const inp = [...Array.from({ length: tIn }, (_, k) => t.const(row[(i * s + j) * tIn + k])), t.const(lin(s, i)), t.const(lin(s, j)), t.const(lin(tOut, l))];
        return dense(inp, 'fc0', W);
      });
      for (let layer = 0; layer < L; layer++) {
        const wr = at(`k${layer}_re`); const wi = at(`k${layer}_im`);
        const spec = kept.map(({ mode, kx, ky, kt }) => {
          const th = (i: number, j: number, l: number) => 2 * Math.PI * (kx * i / s + ky * j / s + kt * l / nt);
          const re = Array.from({ length: W }, (_, c) => t.sum(cells.map(([i, j, l]) => t.scale(h[cell(i, j, l)][c], Math.cos(th(i, j, l))))));
          const im = Array.from({ length: W }, (_, c) => t.sum(cells.map(([i, j, l]) => t.scale(h[cell(i, j, l)][c], -Math.sin(th(i, j, l))))));
          const yRe = Array.from({ length: W }, (_, o) => t.sum(re.map((xr, c) => t.sub(t.mul(xr, wr(mode, c, o)), t.mul(im[c], wi(mode, c, o))))));
          const yIm = Array.from({ length: W }, (_, o) => t.sum(re.map((xr, c) => t.add(t.mul(xr, wi(mode, c, o)), t.mul(im[c], wr(mode, c, o))))));
          return { kx, ky, kt, yRe, yIm, th };
        });
        h = cells.map(([i, j, l]) => {
          const local = dense(h[cell(i, j, l)], `w${layer}`, W);
          return local.map((z, o) => {
            const terms: Node[] = [z];
            for (const m of spec) {
              const c = (m.kt === 0 ? 1 : 2) / (s * s * nt); const th = m.th(i, j, l);
              terms.push(t.scale(m.yRe[o], c * Math.cos(th)), t.scale(m.yIm[o], -c * Math.sin(th)));
            }
            const sum = t.sum(terms);
            return layer < L - 1 ? acts.geluErf(t, sum) : sum;
          });
        });
      }
      const out: Node[] = [];
      for (let i = 0; i < s; i++) for (let j = 0; j < s; j++) for (let l = 0; l < tOut; l++) {
        const z = dense(dense(h[cell(i, j, l)], 'fc1', P).map((q) => acts.geluErf(t, q)), 'fc2', 1)[0];
        const q = (i * s + j) * tOut + l;
        out.push(t.add(t.scale(z, std[q] + 1e-5), t.const(mean[q])));
      }
      return out;
    });
  };
  return { fn, w, v, build, loss: (t, z) => msre(t, z, Y), dispose: () => model.dispose() };
}

// ---- DeepONet, POD-DeepONet and GreenLearning builders (src/models/deeponet.ts, pod.ts,
// greenlearning.ts) at toy size, each against a float64 twin written from CASES.md 4.4, 5.4, 6.4.

/** Parameter `name` of a function model's layout as a row-major index function into the tape's inputs. */
function layoutParam(fn: TfjsFunction, p: Node[], name: string): (...idx: number[]) => Node {
  const e = fn.layout.entries.find((x) => x.name === name);
  if (!e) throw new Error(`no parameter ${name}`);
  return (...idx: number[]) => {
    let k = 0;
    for (let d = 0; d < idx.length; d++) k = k * e.shape[d] + idx[d];
    return p[e.offset + k];
  };
}

/** h W + b on the tape, for a layout's `${name}_w` [in, out] and `${name}_b` [out]. */
function layoutDense(t: Tape, fn: TfjsFunction, p: Node[], name: string, h: Node[], nOut: number): Node[] {
  const wt = layoutParam(fn, p, `${name}_w`); const b = layoutParam(fn, p, `${name}_b`);
  return Array.from({ length: nOut }, (_, o) => t.add(t.sum(h.map((hi, i) => t.mul(hi, wt(i, o)))), b(o)));
}

/**
 * The unstacked DeepONet (m = 3 sensors, (x, t), width 3, depth 2, MSE): branch hidden layer
 * activated and output linear, trunk activated on both layers, sum_k b_k t_k + b0.
 */
async function deeponetCase(act: 'relu' | 'tanh', seed: number): Promise<Case> {
  const m = 3; const d = 2; const W = 3; const rows = 4;
  const r = rng(seed);
  const xs = Float64Array.from({ length: rows * (m + d) }, (_, i) => (i % (m + d) < m ? r() : 0.5 * (r() + 1)));
  const ys = randArray(rows, r);
  const model = deeponet({ sensors: m, coordinates: d, width: W, depth: 2, activation: act, seed });
  const fn = await createTfjsFunction({ quiet: true, model, loss: 'mse',
    data: { x: { values: xs, shape: [rows, m + d] }, y: { values: ys, shape: [rows, 1] } } });
  const w = randArray(fn.size, r, 0.8);
  const v = randArray(fn.size, r);
  const X = toRows(xs, rows, m + d); const Y = toRows(ys, rows, 1);
  const build = (t: Tape, p: Node[]): M => X.map((row) => {
    const a = (h: Node[]) => h.map((z) => acts[act](t, z));
    const u = row.slice(0, m).map((c) => t.const(c)); const y = row.slice(m).map((c) => t.const(c));
    const b = layoutDense(t, fn, p, 'branch1', a(layoutDense(t, fn, p, 'branch0', u, W)), W);
    const tr = a(layoutDense(t, fn, p, 'trunk1', a(layoutDense(t, fn, p, 'trunk0', y, W)), W));
    return [t.add(t.sum(b.map((bk, k) => t.mul(bk, tr[k]))), layoutParam(fn, p, 'b0')(0))];
  });
  return { fn, w, v, build, loss: (t, z) => mse(t, z, Y), dispose: () => model.dispose() } as Case;
}

/**
 * The POD-DeepONet (3 sensors, branch [3, 4, p], ReLU, MSE) on a POD basis of 6 random samples of
 * 5 points; the twin applies the authors' (b . (basis sqrt(points))^T) / p + mean in float64.
 */
async function podDeeponetCase(seed: number): Promise<Case> {
  const m = 3; const points = 5; const W = 4; const rows = 4;
  const r = rng(seed);
  const pod = podBasis(randArray(6 * points, r), 6, points, { varianceExplained: 0.99 });
  const xs = randArray(rows * m, r);
  const ys = randArray(rows * points, r);
  const model = podDeeponet({ sensors: m, basis: pod, width: W, seed });
  const fn = await createTfjsFunction({ quiet: true, model, loss: 'mse',
    data: { x: { values: xs, shape: [rows, m] }, y: { values: ys, shape: [rows, points] } } });
  const w = randArray(fn.size, r, 0.8);
  const v = randArray(fn.size, r);
  const X = toRows(xs, rows, m); const Y = toRows(ys, rows, points);
  const build = (t: Tape, p: Node[]): M => X.map((row) => {
    const h = layoutDense(t, fn, p, 'branch0', row.map((c) => t.const(c)), W).map((z) => acts.relu(t, z));
    const b = layoutDense(t, fn, p, 'branch1', h, pod.p);
    return Array.from({ length: points }, (_, j) => t.add(
      t.scale(t.sum(b.map((bk, k) => t.scale(bk, pod.basis[j * pod.p + k] * Math.sqrt(points)))), 1 / pod.p),
      t.const(pod.mean[j])));
  });
  return { fn, w, v, build, loss: (t, z) => mse(t, z, Y), dispose: () => model.dispose() } as Case;
}

/**
 * GreenLearning at s = 3 (an 81-point 4-D grid), width 3, 2 hidden layers with their own rational
 * activations, loss eq. 6: G from the MLP on (t_i, t_j, t_k, t_l), u_q = sum_p f_p G[p, q] / s^2.
 */
async function greenLearningCase(seed: number): Promise<Case> {
  const s = 3; const W = 3; const L = 2; const B = 2; const n = s * s;
  const r = rng(seed);
  const xs = randArray(B * n, r);
  const ys = randArray(B * n, r);
  const model = greenLearning({ resolution: s, width: W, depth: L, seed });
  const fn = await createTfjsFunction({ quiet: true, model, loss: meanSquaredRelativeError,
    data: { x: { values: xs, shape: [B, n] }, y: { values: ys, shape: [B, n] } } });
  const w = randArray(fn.size, r, 0.8);
  // Rational coefficients near the ReLU fit; Q = b0 + b1 z + b2 z^2 keeps no real root (b1^2 < 4 b0 b2).
  for (const e of fn.layout.entries) {
    const base = e.name.endsWith('_a') ? [0.0218, 0.5, 1.5957, 1.1915] : e.name.endsWith('_b') && e.name.startsWith('r') ? [1.0, 0.1, 2.383] : undefined;
    if (base) base.forEach((c, i) => { w[e.offset + i] = c * (1 + 0.1 * r()); });
  }
  const v = randArray(fn.size, r);
  const X = toRows(xs, B, n); const Y = toRows(ys, B, n);
  const build = (t: Tape, p: Node[]): M => {
    const rat = (l: number, x: Node) => {
      const A = layoutParam(fn, p, `r${l}_a`); const Bq = layoutParam(fn, p, `r${l}_b`);
      const x2 = t.mul(x, x); const x3 = t.mul(x2, x);
      const P = t.sum([A(0), t.mul(A(1), x), t.mul(A(2), x2), t.mul(A(3), x3)]);
      const Q = t.sum([Bq(0), t.mul(Bq(1), x), t.mul(Bq(2), x2)]);
      return t.div(P, Q);
    };
    const c = (i: number) => i / (s - 1);
    const G = Array.from({ length: n }, (_, pp) => Array.from({ length: n }, (_, q) => {
      let h = [c(Math.floor(pp / s)), c(pp % s), c(Math.floor(q / s)), c(q % s)].map((x) => t.const(x));
      for (let l = 0; l < L; l++) h = layoutDense(t, fn, p, `fc${l}`, h, W).map((z) => rat(l, z));
      return layoutDense(t, fn, p, `fc${L}`, h, 1)[0];
    }));
    return X.map((f) => Array.from({ length: n }, (_, q) => t.scale(t.sum(f.map((fp, pp) => t.scale(G[pp][q], fp))), 1 / n)));
  };
  return { fn, w, v, build, loss: (t, z) => msre(t, z, Y), dispose: () => model.dispose() } as Case;
}

function check(c: Case) {
  const ref = reference(c.w, c.v, c.build, c.loss);
  const g = new Float64Array(c.fn.size);
  const f = c.fn.objectiveAndGradient(c.w, g);
  const f0 = c.fn.objective(c.w);
  const hv = new Float64Array(c.fn.size);
  const H = c.fn.hessian('exact'); H.setPoint(c.w); H.apply(c.v, hv);
  const gnv = new Float64Array(c.fn.size);
  const G = c.fn.hessian('gauss-newton'); G.setPoint(c.w); G.apply(c.v, gnv);
  const errs = {
    f: Math.abs(f - ref.f) / Math.abs(ref.f), f0: Math.abs(f0 - ref.f) / Math.abs(ref.f),
    g: relErr(g, ref.g), hv: relErr(hv, ref.hv), gnv: relErr(gnv, ref.gnv),
  };
  // Every model here is linearized (one recording per point, linearize.ts), not double-vjp'd.
  expect(c.fn.linearizationReport()).toEqual({ model: 'linearized', loss: 'linearized', exact: 'linearized', reasons: [] });
  c.fn.dispose();
  if (process.env.PETSCML_SHOW_ERRORS) console.log(JSON.stringify(errs));
  return errs;
}

export function defineDerivativeSuite(backend: BackendName, tol = TOL) {
  describe(`derivatives against a float64 reference (${backend})`, () => {
    beforeAll(async () => {
      const { initBackend } = await import('../../src/functions');
      await initBackend({ backend, quiet: true });
    });

    const activations = ['linear', 'tanh', 'sigmoid', 'exp', 'elu', 'relu', 'sin', 'softplus', 'geluTanh', 'geluErf'];
    for (const [i, act] of activations.entries()) {
      it(`dense + ${act}: f, g, exact Hv, Gauss-Newton v`, async () => {
        const e = check(await mlpCase(act, 11 + i));
        expect(e.f).toBeLessThan(tol); expect(e.f0).toBeLessThan(tol);
        expect(e.g).toBeLessThan(tol); expect(e.hv).toBeLessThan(tol); expect(e.gnv).toBeLessThan(tol);
      });
    }

    it('dense + softmax', async () => {
      const e = check(await mlpCase('softmax', 5, { softmax: true }));
      expect(Math.max(e.f, e.g, e.hv, e.gnv)).toBeLessThan(tol);
    });

    it('rational activation with trainable coefficients', async () => {
      const e = check(await rationalCase(7));
      expect(Math.max(e.f, e.g, e.hv, e.gnv)).toBeLessThan(tol);
    });

    it('Fourier layer (DFT matrices) + gelu', async () => {
      const e = check(await fourierCase(9));
      expect(Math.max(e.f, e.g, e.hv, e.gnv)).toBeLessThan(tol);
    });

    it('the FNO-1D builder (spectral layers, 1x1 convolutions, erf GELU, loss eq. 6)', async () => {
      const c = await fnoCase(13);
      const e = check(c);
      (c as Case & { dispose(): void }).dispose();
      expect(Math.max(e.f, e.g, e.hv, e.gnv)).toBeLessThan(tol);
    });

    it('the FNO-3D builder (3-D spectral layers with corner modes, time padding, decoder, loss eq. 6)', async () => {
      const c = await fno3dCase(17);
      const e = check(c);
      c.dispose();
      expect(Math.max(e.f, e.g, e.hv, e.gnv)).toBeLessThan(tol);
    });

    it('mean squared relative error loss (eq. 6), tanh', async () => {
      const e = check(await mlpCase('tanh', 21, { msreLoss: true }));
      expect(Math.max(e.f, e.g, e.hv, e.gnv)).toBeLessThan(tol);
    });

    it('a tf.LayersModel (Dense tanh -> Dense) flattened kernel-then-bias, layer by layer', async () => {
      const r = rng(31);
      const xs = randArray(N * IN, r); const ys = randArray(N * OUT, r);
      const model = tf.sequential({ layers: [
        tf.layers.dense({ units: HID, activation: 'tanh', inputShape: [IN] }),
        tf.layers.dense({ units: OUT }),
      ] });
      const fn = await createTfjsFunction({
        quiet: true, model,
        data: { x: { values: xs, shape: [N, IN] }, y: { values: ys, shape: [N, OUT] } },
      });
      expect(fn.layout.entries.map(e => e.shape)).toEqual([[IN, HID], [HID], [HID, OUT], [OUT]]);
      const twin = await mlpCase('tanh', 31);
      // Same data stream (same seed) as mlpCase: reuse its reference with the model's own weights.
      const w = randArray(fn.size, r, 0.8); const v = randArray(fn.size, r);
      const c: Case = { ...twin, fn, w, v };
      twin.fn.dispose();
      const e = check(c);
      expect(Math.max(e.f, e.g, e.hv, e.gnv)).toBeLessThan(tol);
      model.dispose();
    });

    it('the stock tfjs Tanh gradient gives a wrong exact Hv (so this suite would catch a regression)', async () => {
      const stock = stockGradientConfig('Tanh');
      const fixed = installedGradientConfig('Tanh');
      expect(stock).toBeDefined(); expect(fixed).toBeDefined();
      const c = await mlpCase('tanh', 12);
      const ref = reference(c.w, c.v, c.build, c.loss);
      const hv = new Float64Array(c.fn.size);
      tf.registerGradient(stock!);
      try {
        const H = c.fn.hessian('exact'); H.setPoint(c.w); H.apply(c.v, hv);
      } finally {
        tf.registerGradient(fixed!);
      }
      expect(relErr(hv, ref.hv)).toBeGreaterThan(0.01);
      const H = c.fn.hessian('exact'); H.setPoint(c.w); H.apply(c.v, hv);
      expect(relErr(hv, ref.hv)).toBeLessThan(tol);
      c.fn.dispose();
    });

    // ---- DeepONet, POD-DeepONet and GreenLearning builders
    for (const [i, act] of (['relu', 'tanh'] as const).entries()) {
      it(`the DeepONet builder (${act}; linear branch output, activated trunk output, b0)`, async () => {
        const c = await deeponetCase(act, 41 + i);
        const e = check(c);
        (c as Case & { dispose(): void }).dispose();
        expect(Math.max(e.f, e.f0, e.g, e.hv, e.gnv)).toBeLessThan(tol);
      });
    }

    it('the POD-DeepONet builder (fixed POD basis, / p + mean)', async () => {
      const c = await podDeeponetCase(43);
      const e = check(c);
      (c as Case & { dispose(): void }).dispose();
      expect(Math.max(e.f, e.f0, e.g, e.hv, e.gnv)).toBeLessThan(tol);
    });

    it('the GreenLearning builder (4-D grid MLP, trainable rational activations, quadrature, loss eq. 6)', async () => {
      const c = await greenLearningCase(44);
      const e = check(c);
      (c as Case & { dispose(): void }).dispose();
      expect(Math.max(e.f, e.f0, e.g, e.hv, e.gnv)).toBeLessThan(tol);
    });
  });
}
