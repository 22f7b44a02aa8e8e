/**
 * Building blocks for plain-function models that stay exact under nested differentiation:
 * every op used here is on the CERTIFIED list of gradients.ts (no FFT, einsum or complex ops,
 * which have no correct second derivative in tfjs).
 */
import * as tf from '@tensorflow/tfjs';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    // x^3 as products: Pow's gradient takes logs and further Pows, three times the work in a
    // Hessian product, for the same value.
    const inner = tf.mul(SQRT_2_OVER_PI, tf.add(x, tf.mul(0.044715, tf.mul(tf.mul(x, x), x))));
    return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(inner)));
  });
}

/** GELU, exact form: 0.5 x (1 + erf(x / sqrt 2)). */
export function geluErf(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
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

/** The paper's initialization, the best (3, 2) rational approximation of ReLU on [-1, 1]. */
export const RATIONAL_RELU_INIT = { a: [1.1915, 1.5957, 0.5, 0.0218], b: [2.383, 0.0, 1.0] } as const;

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
  const cosT = new Float32Array(n * modes);
  const negSinT = new Float32Array(n * modes);
  const invCos = new Float32Array(modes * n);
  const invSin = new Float32Array(modes * n);
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
    cosT: tf.tensor2d(cosT, [n, modes]),
    negSinT: tf.tensor2d(negSinT, [n, modes]),
    invCos: tf.tensor2d(invCos, [modes, n]),
    invSin: tf.tensor2d(invSin, [modes, n]),
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
