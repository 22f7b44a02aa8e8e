/**
 * Building blocks for plain-function models that stay exact under nested differentiation:
 * every op used here is on the CERTIFIED list of gradients.ts (no FFT, einsum or complex ops,
 * which have no correct second derivative in tfjs).
 */
import * as tf from '@tensorflow/tfjs';
import { exactScalar, exactTensor } from './backend';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    // x^3 as products: Pow's gradient takes logs and further Pows, three times the work in a
    // Hessian product, for the same value.
    // Constants as exactScalar: a number given to an op is rounded to float32 (on petscml-float64
    // that changed the model by ~1e-8); 0.5 and 1 are exact either way.
    const inner = tf.mul(exactScalar(SQRT_2_OVER_PI), tf.add(x, tf.mul(exactScalar(0.044715), tf.mul(tf.mul(x, x), x))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
  });
}

/** GELU, exact form: 0.5 x (1 + erf(x / sqrt 2)). */
export function geluErf(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, exactScalar(Math.SQRT1_2))))));
}

/**
 * Rational activation of type (3, 2) (Boulle, Nakatsukasa, Townsend, "Rational neural networks",
 * NeurIPS 2020): r(x) = (a0 + a1 x + a2 x^2 + a3 x^3) / (b0 + b1 x + b2 x^2), with trainable
 * coefficient tensors `a` [4] and `b` [3] shared across the layer.
 */
export function rational(x: tf.Tensor, a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [a0, a1, a2, a3] = tf.unstack(a);
    const [b0, b1, b2] = tf.unstack(b);
    const p = tf.add(a0, tf.mul(x, tf.add(a1, tf.mul(x, tf.add(a2, tf.mul(x, a3))))));
    const q = tf.add(b0, tf.mul(x, tf.add(b1, tf.mul(x, b2))));
    return tf.div(p, q);
  });
}

/**
 * The paper's initialization, the best (3, 2) rational approximation of ReLU on [-1, 1], in
 * rational()'s order, lowest power first: P = 0.0218 + 0.5 z + 1.5957 z^2 + 1.1915 z^3,
 * Q = 1 + 0 z + 2.383 z^2 (the authors store them highest power first, as polyval does).
 */
export const RATIONAL_RELU_INIT = { a: [0.0218, 0.5, 1.5957, 1.1915], b: [1.0, 0.0, 2.383] } as const;

/** Fixed real DFT matrices for `n` points truncated to `modes` frequencies (modes <= n/2). */
export interface DftBasis {
  readonly n: number;
  readonly modes: number;
  /** Forward: X_re = x @ cosT, X_im = x @ negSinT, both [n, modes]. */
  readonly cosT: tf.Tensor2D;
  readonly negSinT: tf.Tensor2D;
  /** Inverse real DFT of the truncated spectrum: x = X_re @ invCos + X_im @ invSin, [modes, n]. */
  readonly invCos: tf.Tensor2D;
  readonly invSin: tf.Tensor2D;
  dispose(): void;
}

export function dftBasis(n: number, modes: number): DftBasis {
  if (!(modes >= 1 && 2 * modes <= n)) throw new Error(`petscml: dftBasis needs 1 <= modes <= n/2 (n=${n}, modes=${modes})`);
  // Built in double; exactTensor rounds them to float32 except on petscml-float64.
  const cosT = new Float64Array(n * modes);
  const negSinT = new Float64Array(n * modes);
  const invCos = new Float64Array(modes * n);
  const invSin = new Float64Array(modes * n);
  for (let j = 0; j < n; j++) {
    for (let k = 0; k < modes; k++) {
      // Angles reduced modulo n in integers so float64 trig stays exact for large k*j.
      const theta = (2 * Math.PI * ((k * j) % n)) / n;
      const c = Math.cos(theta);
      const s = Math.sin(theta);
      cosT[j * modes + k] = c;
      negSinT[j * modes + k] = -s;
      // Real inverse of a Hermitian spectrum: the k = 0 mode counts once, the others twice
      // (their conjugates); the Nyquist mode is excluded by modes <= n/2 unless 2*modes == n.
      const w = (k === 0 || 2 * k === n ? 1 : 2) / n;
      invCos[k * n + j] = w * c;
      invSin[k * n + j] = -w * s;
    }
  }
  const basis = {
    n, modes,
    cosT: exactTensor(cosT, [n, modes]) as tf.Tensor2D,
    negSinT: exactTensor(negSinT, [n, modes]) as tf.Tensor2D,
    invCos: exactTensor(invCos, [modes, n]) as tf.Tensor2D,
    invSin: exactTensor(invSin, [modes, n]) as tf.Tensor2D,
    dispose() { tf.dispose([basis.cosT, basis.negSinT, basis.invCos, basis.invSin]); },
  };
  return basis;
}

/**
 * 1-D Fourier layer (FNO spectral convolution) as DFT matrix products: x [batch, n, cin] ->
 * [batch, n, cout]. Keeps the lowest `basis.modes` frequencies, multiplies each by a complex
 * [cin, cout] weight (wRe, wIm: [modes, cin, cout]) and transforms back.
 */
export function fourierLayer1d(x: tf.Tensor3D, wRe: tf.Tensor3D, wIm: tf.Tensor3D, basis: DftBasis): tf.Tensor3D {
  return tf.tidy(() => {
    const [batch, n, cin] = x.shape;
    const cout = wRe.shape[2];
    const m = basis.modes;
    if (n !== basis.n) throw new Error(`petscml: fourierLayer1d input has ${n} points, basis has ${basis.n}`);
    // [batch, cin, n] -> [batch*cin, n]: the transform acts on the last axis as a plain matMul.
    const xt = tf.reshape(tf.transpose(x, [0, 2, 1]), [batch * cin, n]);
    const re = tf.reshape(tf.matMul(xt, basis.cosT), [batch, cin, m]);
    const im = tf.reshape(tf.matMul(xt, basis.negSinT), [batch, cin, m]);
    // Per-mode complex product as batched matrix products over the modes, [m, batch, cin] by
    // [m, cin, cout] (no einsum: tfjs has no second derivative for it). A broadcast multiply and
    // sum over cin, the first form, made a [batch, m, cin, cout] tensor per term: 4x the memory
    // traffic of the products, and most of an FNO block's time.
    const reT = tf.transpose(re, [2, 0, 1]); // [m, batch, cin]
    const imT = tf.transpose(im, [2, 0, 1]);
    const outRe = tf.sub(tf.matMul(reT, wRe), tf.matMul(imT, wIm)); // [m, batch, cout]
    const outIm = tf.add(tf.matMul(reT, wIm), tf.matMul(imT, wRe));
    const toRows = (t: tf.Tensor) => tf.reshape(tf.transpose(t, [1, 2, 0]), [batch * cout, m]);
    const y = tf.add(tf.matMul(toRows(outRe), basis.invCos), tf.matMul(toRows(outIm), basis.invSin));
    return tf.transpose(tf.reshape(y, [batch, cout, n]), [0, 2, 1]) as tf.Tensor3D;
  });
}

/**
 * Fixed DFT matrices of the 3-D Fourier layer (CASES.md 1.4, the authors' `SpectralConv3d`) on an
 * n1 x n2 x n3 grid. Kept frequencies: kx in {0..m1-1} u {n1-m1..n1-1}, ky likewise, kt in
 * {0..m3-1} (rfftn puts the real-to-complex axis last). Each matrix acts on the last axis.
 */
export interface DftBasis3d {
  readonly n: readonly [number, number, number];
  readonly modes: readonly [number, number, number];
  /** Along x and y (complex): forward e^{-i theta} as cos [n, 2m] and -sin; inverse e^{+i theta} / n as [2m, n]. */
  readonly x: ComplexAxis;
  readonly y: ComplexAxis;
  /** Along t (real): the 1-D basis, forward rfft and the c_k-weighted C2R inverse. */
  readonly t: DftBasis;
  dispose(): void;
}

interface ComplexAxis {
  readonly cos: tf.Tensor2D;
  readonly negSin: tf.Tensor2D;
  readonly invCos: tf.Tensor2D;
  readonly invSin: tf.Tensor2D;
}

function complexAxis(n: number, m: number): ComplexAxis {
  const k2 = 2 * m;
  const cos = new Float64Array(n * k2), negSin = new Float64Array(n * k2);
  const invCos = new Float64Array(k2 * n), invSin = new Float64Array(k2 * n);
  for (let q = 0; q < k2; q++) {
    const k = q < m ? q : n - k2 + q;
    for (let j = 0; j < n; j++) {
      const theta = (2 * Math.PI * ((k * j) % n)) / n;
      const c = Math.cos(theta), s = Math.sin(theta);
      cos[j * k2 + q] = c;
      negSin[j * k2 + q] = -s;
      invCos[q * n + j] = c / n;
      invSin[q * n + j] = s / n;
    }
  }
  return {
    cos: exactTensor(cos, [n, k2]) as tf.Tensor2D, negSin: exactTensor(negSin, [n, k2]) as tf.Tensor2D,
    invCos: exactTensor(invCos, [k2, n]) as tf.Tensor2D, invSin: exactTensor(invSin, [k2, n]) as tf.Tensor2D,
  };
}

export function dftBasis3d(n: readonly [number, number, number], modes: readonly [number, number, number]): DftBasis3d {
  for (let a = 0; a < 3; a++) {
    if (!(Number.isInteger(n[a]) && Number.isInteger(modes[a]) && modes[a] >= 1 && 2 * modes[a] <= n[a])) {
      throw new Error(`petscml: dftBasis3d needs 1 <= modes <= n/2 on every axis (n=[${n.join(', ')}], modes=[${modes.join(', ')}])`);
    }
  }
  const x = complexAxis(n[0], modes[0]);
  const y = complexAxis(n[1], modes[1]);
  const t = dftBasis(n[2], modes[2]);
  return {
    n: [n[0], n[1], n[2]], modes: [modes[0], modes[1], modes[2]], x, y, t,
    dispose() {
      tf.dispose([x.cos, x.negSin, x.invCos, x.invSin, y.cos, y.negSin, y.invCos, y.invSin]);
      t.dispose();
    },
  };
}

/** t @ m along the last axis of t, any rank. */
function lastAxis(t: tf.Tensor, m: tf.Tensor2D): tf.Tensor {
  const shape = t.shape.slice();
  const n = shape[shape.length - 1];
  shape[shape.length - 1] = m.shape[1];
  return tf.reshape(tf.matMul(tf.reshape(t, [-1, n]) as tf.Tensor2D, m), shape);
}

/** (re + i im) times (c + i s) along the last axis. */
function complexLastAxis(re: tf.Tensor, im: tf.Tensor, c: tf.Tensor2D, s: tf.Tensor2D): [tf.Tensor, tf.Tensor] {
  return [
    tf.sub(lastAxis(re, c), lastAxis(im, s)),
    tf.add(lastAxis(re, s), lastAxis(im, c)),
  ];
}

/** Number of kept modes of a 3-D Fourier layer: 2 m1 * 2 m2 * m3 (the authors' four corners). */
export function fourierModes3d(modes: readonly [number, number, number]): number {
  return 4 * modes[0] * modes[1] * modes[2];
}

/**
 * 3-D Fourier layer as DFT matrix products: x [batch, n1, n2, n3, cin] -> [batch, n1, n2, n3, cout],
 * equal to the authors' rfftn -> four corner weights -> irfftn. wRe, wIm: [M, cin, cout], M =
 * fourierModes3d(modes), mode index (kt * 2 m2 + ky) * 2 m1 + kx over the kept frequencies in the
 * order of DftBasis3d (low ones first, then n - m..n - 1).
 */
export function fourierLayer3d(x: tf.Tensor, wRe: tf.Tensor3D, wIm: tf.Tensor3D, basis: DftBasis3d): tf.Tensor {
  return tf.tidy(() => {
    if (x.rank !== 5) throw new Error(`petscml: fourierLayer3d expects [batch, n1, n2, n3, channels], got [${x.shape.join(', ')}]`);
    const [batch, n1, n2, n3, cin] = x.shape;
    const [b1, b2, b3] = basis.n;
    if (n1 !== b1 || n2 !== b2 || n3 !== b3) throw new Error(`petscml: fourierLayer3d input grid is ${n1}x${n2}x${n3}, basis is ${b1}x${b2}x${b3}`);
    const [m1, m2, m3] = basis.modes;
    const k1 = 2 * m1, k2 = 2 * m2;
    const modes = k1 * k2 * m3;
    if (wRe.shape[0] !== modes || wRe.shape[1] !== cin) throw new Error(`petscml: fourierLayer3d weights are [${wRe.shape.join(', ')}], expected [${modes}, ${cin}, cout]`);
    const cout = wRe.shape[2];
    // Channels out of the way first, then each axis in turn moved last and transformed as a matMul.
    const xc = tf.transpose(x, [0, 4, 1, 2, 3]); // [b, c, n1, n2, n3]
    let re = lastAxis(xc, basis.t.cosT); // [b, c, n1, n2, m3]
    let im = lastAxis(xc, basis.t.negSinT);
    [re, im] = [tf.transpose(re, [0, 1, 2, 4, 3]), tf.transpose(im, [0, 1, 2, 4, 3])]; // [b, c, n1, m3, n2]
    [re, im] = complexLastAxis(re, im, basis.y.cos, basis.y.negSin); // [b, c, n1, m3, k2]
    [re, im] = [tf.transpose(re, [0, 1, 3, 4, 2]), tf.transpose(im, [0, 1, 3, 4, 2])]; // [b, c, m3, k2, n1]
    [re, im] = complexLastAxis(re, im, basis.x.cos, basis.x.negSin); // [b, c, m3, k2, k1]
    // Per-mode complex mixing as batched matMuls [M, b, cin] x [M, cin, cout] (no einsum: tfjs has
    // no second derivative for it).
    const toModes = (t: tf.Tensor) => tf.reshape(tf.transpose(t, [2, 3, 4, 0, 1]), [modes, batch, cin]) as tf.Tensor3D;
    const reM = toModes(re), imM = toModes(im);
    const outRe = tf.sub(tf.matMul(reM, wRe), tf.matMul(imM, wIm));
    const outIm = tf.add(tf.matMul(reM, wIm), tf.matMul(imM, wRe));
    const fromModes = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [m3, k2, k1, batch, cout]), [3, 4, 0, 1, 2]); // [b, o, m3, k2, k1]
    [re, im] = complexLastAxis(fromModes(outRe), fromModes(outIm), basis.x.invCos, basis.x.invSin); // [b, o, m3, k2, n1]
    [re, im] = [tf.transpose(re, [0, 1, 2, 4, 3]), tf.transpose(im, [0, 1, 2, 4, 3])]; // [b, o, m3, n1, k2]
    [re, im] = complexLastAxis(re, im, basis.y.invCos, basis.y.invSin); // [b, o, m3, n1, n2]
    [re, im] = [tf.transpose(re, [0, 1, 3, 4, 2]), tf.transpose(im, [0, 1, 3, 4, 2])]; // [b, o, n1, n2, m3]
    // C2R along t: Re[Z e^{+i theta}] with the c_k weights already in the basis.
    const y = tf.add(lastAxis(re, basis.t.invCos), lastAxis(im, basis.t.invSin)); // [b, o, n1, n2, n3]
    return tf.transpose(y, [0, 2, 3, 4, 1]);
  });
}
