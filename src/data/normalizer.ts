/**
 * The point-wise Gaussian normaliser of the FNO codes (neuraloperator `UnitGaussianNormalizer`,
 * CASES.md 1.3): one mean and one standard deviation per grid point (per feature), over the sample
 * axis only; the standard deviation is the unbiased one (N - 1), and eps = 1e-5 is added to it:
 * encode(x) = (x - mean) / (std + eps), decode(y) = y (std + eps) + mean. Fitted on the training
 * set and applied unchanged to the test set; predictions are decoded before errors are taken.
 */
export interface SampleArray {
  values: Float32Array;
  /** [samples, ...point axes] */
  shape: number[];
}

export class UnitGaussianNormalizer {
  readonly mean: Float64Array;
  readonly std: Float64Array;
  readonly eps: number;

  private constructor(mean: Float64Array, std: Float64Array, eps: number) {
    this.mean = mean;
    this.std = std;
    this.eps = eps;
  }

  /** Fits on `data` (at least two samples: the unbiased std needs them). Sums in float64. */
  static fit(data: SampleArray, eps = 1e-5): UnitGaussianNormalizer {
    const { n, point } = UnitGaussianNormalizer.layout(data, 'fit');
    if (n < 2) throw new RangeError(`petscml: UnitGaussianNormalizer.fit needs at least 2 samples, got ${n}`);
    if (!(eps >= 0) || !Number.isFinite(eps)) throw new RangeError(`petscml: UnitGaussianNormalizer.fit: eps must be finite and >= 0, got ${eps}`);
    const mean = new Float64Array(point);
    const m2 = new Float64Array(point);
    const v = data.values;
    for (let i = 0; i < n; i++) for (let j = 0; j < point; j++) mean[j] += v[i * point + j];
    for (let j = 0; j < point; j++) mean[j] /= n;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < point; j++) {
        const d = v[i * point + j] - mean[j];
        m2[j] += d * d;
      }
    }
    const std = m2.map((s) => Math.sqrt(s / (n - 1)));
    for (let j = 0; j < point; j++) {
      if (!Number.isFinite(mean[j]) || !Number.isFinite(std[j])) {
        throw new RangeError(`petscml: UnitGaussianNormalizer.fit: point ${j} has a non-finite mean or std (NaN or Infinity in the data)`);
      }
    }
    return new UnitGaussianNormalizer(mean, std, eps);
  }

  /** (x - mean) / (std + eps), as a new array of the same shape. */
  encode(data: SampleArray): SampleArray {
    return this.map(data, 'encode', (x, j) => (x - this.mean[j]) / (this.std[j] + this.eps));
  }

  /** y (std + eps) + mean, as a new array of the same shape. */
  decode(data: SampleArray): SampleArray {
    return this.map(data, 'decode', (y, j) => y * (this.std[j] + this.eps) + this.mean[j]);
  }

  private map(data: SampleArray, what: string, f: (x: number, j: number) => number): SampleArray {
    const { n, point } = UnitGaussianNormalizer.layout(data, what);
    if (point !== this.mean.length) {
      throw new RangeError(`petscml: UnitGaussianNormalizer.${what}: samples have ${point} values, the normaliser was fitted on ${this.mean.length}`);
    }
    const out = new Float32Array(n * point);
    for (let i = 0; i < n; i++) for (let j = 0; j < point; j++) out[i * point + j] = f(data.values[i * point + j], j);
    return { values: out, shape: [...data.shape] };
  }

  private static layout(data: SampleArray, what: string): { n: number; point: number } {
    if (!data || !(data.values instanceof Float32Array) || !Array.isArray(data.shape) || data.shape.length < 2) {
      throw new TypeError(`petscml: UnitGaussianNormalizer.${what}: expected { values: Float32Array, shape: [samples, ...points] }`);
    }
    const n = data.shape[0];
    const point = data.shape.slice(1).reduce((a, b) => a * b, 1);
    if (n * point !== data.values.length) {
      throw new RangeError(`petscml: UnitGaussianNormalizer.${what}: shape [${data.shape.join(', ')}] needs ${n * point} values, got ${data.values.length}`);
    }
    return { n, point };
  }
}
