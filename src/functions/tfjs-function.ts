/**
 * The tfjs implementation of ObjectiveFunction: f, g, exact and Gauss-Newton Hessian products of
 * loss(model(params, x), y) over the current batch.
 *
 * Precision: tfjs computes in float32. The solver's float64 vectors are converted to float32
 * once on entry (x, v) and results back to float64 once on exit, so f, g and Hv carry float32
 * rounding (relative error ~1e-6 to 1e-5 for well-scaled models) whatever the solver's precision.
 *
 * All methods are synchronous (TAO calls them from C); the asynchronous work (backend start,
 * reading an async-iterable data source) happens in createTfjsFunction.
 */
import * as tf from '@tensorflow/tfjs';
import type { HessianKind, HessianOperator, ObjectiveFunction, OracleCounts } from './types';
import { initBackend, exactTensor, isFloat64Backend, type BackendOptions, type BackendChoice } from './backend';
import { disposingKeptOnError, installFastWasmKernels, translateGradientError, UnsupportedSecondDerivativeError, withExactSecondOrder } from './gradients';
import { ParameterLayout } from './parameters';
import { linearize, LinearizationUnsupportedError, type Linearization } from './linearize';
import { resolveLoss, meanRelativeError, type Loss, type LossName, type Metric } from './losses';
import { agreeAcrossRanks, collective } from '../collective';

/** A model written as a plain function of named parameter tensors. */
export type ParamsFunction = (params: Record<string, tf.Tensor>, x: tf.Tensor) => tf.Tensor;

export interface FunctionModel {
  apply: ParamsFunction;
  /** Initial values; the record's key order is the flattening order. */
  params: Record<string, tf.Tensor>;
}

export type Model = tf.LayersModel | FunctionModel;

/** An array with its shape; converted to a float32 tensor once, at creation. */
export interface ShapedArray {
  values: Float32Array | Float64Array | number[];
  shape: number[];
}

export type DataTensor = tf.Tensor | ShapedArray;
export interface Batch { x: DataTensor; y: DataTensor }
export type DataSource = Batch | Iterable<Batch> | AsyncIterable<Batch>;

export interface TfjsFunctionOptions extends BackendOptions {
  model: Model;
  /** 'mse' (default), 'msre' (paper eq. 6) or a function (prediction, target) => scalar. */
  loss?: Loss | LossName;
  /**
   * In-memory {x, y}, or an iterable / async iterable of batches. Iterables are read to the end
   * once, at creation (the solver's callbacks are synchronous and cannot await a batch).
   */
  data: DataSource;
  /** For in-memory data: split into mini-batches of this many samples. Default: full batch. */
  batchSize?: number;
  /**
   * Data-parallel training (collective over PETSc's world): `data` is this rank's shard (see
   * shardData / shardBatches in src/data), every rank has the same number of batches, and each
   * rank's loss on batch b is weighted by its share n_rb / sum_r n_rb of that batch, agreed once
   * here with one allreduce. Summed over the ranks (as attachFunction does on a 'world' Tao) this
   * is the mean over the whole batch, also for uneven shards. On one rank the weights are 1.
   */
  dataParallel?: boolean;
  /**
   * 'float64': the model, the loss, the gradient and the Hessian products in double, on the
   * petscml-float64 backend (tfjs has no float64 dtype; petscml's engine holds float32-dtype
   * tensors as doubles there). Choose it before building the model (`initBackend({ backend:
   * 'petscml-float64' })` or PETSCML_BACKEND=float64), so that the model's own constants are made
   * in double. A kernel without a float64 implementation throws naming it. Default: float32, or
   * float64 when the active backend is petscml-float64.
   */
  precision?: Precision;
}

export type Precision = 'float32' | 'float64';

/** How a part of a Hessian product is computed (see TfjsFunction.linearizationReport). */
export type LinearizationPath = 'linearized' | 'double-vjp' | 'refused';

interface OwnedBatch { x: tf.Tensor; y: tf.Tensor; n: number }

function isBatch(d: unknown): d is Batch {
  return typeof d === 'object' && d !== null && 'x' in d && 'y' in d;
}

function shapeText(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? 'any' : d)).join(', ')}]`;
}

function toTensor(d: DataTensor, what: string): tf.Tensor {
  if (d instanceof tf.Tensor) return d.dtype === 'float32' ? tf.clone(d) : tf.cast(d, 'float32');
  if (d && typeof d === 'object' && Array.isArray((d as ShapedArray).shape) && (d as ShapedArray).values) {
    const { values, shape } = d as ShapedArray;
    if (!shape.every((n) => Number.isInteger(n) && n >= 0)) throw new Error(`petscml: ${what} has shape ${JSON.stringify(shape)}: expected non-negative integers`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (typeof values.length !== 'number' || values.length !== count) {
      throw new Error(`petscml: ${what} has shape ${shapeText(shape)} (${count} values) but ${values.length} values`);
    }
    return exactTensor(values, shape);
  }
  throw new Error(`petscml: ${what} must be a tf.Tensor or {values, shape}`);
}

/** Throws naming the first NaN or infinite value of t by its sample (index along axis 0). */
function checkFinite(t: tf.Tensor, what: string): void {
  const v = t.dataSync();
  const row = t.shape.slice(1).reduce((a, b) => a * b, 1);
  for (let i = 0; i < v.length; i++) {
    if (!Number.isFinite(v[i])) {
      const sample = Math.floor(i / Math.max(row, 1));
      throw new RangeError(`petscml: ${what} has ${v[i]} at sample ${sample}${row > 1 ? ` (element ${i - sample * row} of it)` : ''}: ` +
        'data must be finite (NaN propagates into every loss and gradient)');
    }
  }
}

/** Converts and checks one batch: rank >= 1, equal non-zero sample counts, finite values. */
function ownBatch(b: Batch, what = 'batch'): OwnedBatch {
  if (!isBatch(b)) throw new Error(`petscml: ${what} must be {x, y}, got ${b === null ? 'null' : typeof b}`);
  const x = toTensor(b.x, `${what} x`);
  let y: tf.Tensor | undefined;
  try {
    y = toTensor(b.y, `${what} y`);
    if (x.rank < 1 || y.rank < 1) throw new Error(`petscml: ${what}: x and y need a sample axis first, got x ${shapeText(x.shape)} and y ${shapeText(y.shape)}`);
    if (x.shape[0] !== y.shape[0]) throw new RangeError(`petscml: ${what} x has ${x.shape[0]} samples (shape ${shapeText(x.shape)}) but y has ${y.shape[0]} (shape ${shapeText(y.shape)})`);
    if (x.shape[0] === 0) throw new RangeError(`petscml: ${what} has 0 samples (x ${shapeText(x.shape)}, y ${shapeText(y.shape)}): a loss over no data is not a loss`);
    checkFinite(x, `${what} x`);
    checkFinite(y, `${what} y`);
    return { x, y, n: x.shape[0] };
  } catch (e) {
    tf.dispose(y ? [x, y] : [x]);
    throw e;
  }
}

/** A scalar loss or metric value, or an error naming what came back instead. */
function scalarOf(t: unknown, what: string): tf.Scalar {
  if (!(t instanceof tf.Tensor)) throw new TypeError(`petscml: ${what} must return a scalar tf.Tensor, got ${t === null ? 'null' : typeof t}`);
  if (t.rank !== 0) {
    const shape = t.shape;
    t.dispose();
    throw new RangeError(`petscml: ${what} must return a scalar (shape []), returned shape ${shapeText(shape)}: reduce it (tf.mean) yourself`);
  }
  return t as tf.Scalar;
}

const FUNCTION_OPTION_KEYS = ['model', 'loss', 'data', 'batchSize', 'dataParallel', 'backend', 'quiet', 'precision'] as const;

function isLayersModel(m: Model): m is tf.LayersModel {
  return typeof (m as tf.LayersModel).trainableWeights !== 'undefined' && typeof (m as tf.LayersModel).apply === 'function'
    && !('params' in m);
}

/** sum_i <a_i, b_i> as a scalar tensor. */
function dot(a: readonly tf.Tensor[], b: readonly tf.Tensor[]): tf.Scalar {
  return tf.addN(a.map((t, i) => tf.sum(tf.mul(t, b[i])))) as tf.Scalar;
}

function scaleInPlace(a: Float64Array, w: number): void {
  for (let i = 0; i < a.length; i++) a[i] *= w;
}

function equalArrays(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Thrown when a Gauss-Newton product cannot be computed: the model has a kernel without a
 * forward-mode rule (so no linearization), and tfjs cannot differentiate the model's vjp again
 * for the double vjp (MaxPool's gradient, for one, has no gradient of its own).
 */
export class UnsupportedGaussNewtonError extends Error {
  readonly op: string;
  constructor(op: string, part: 'model' | 'loss', why: string | undefined) {
    const reason = why?.replace(/^petscml: /, '');
    super('petscml: the Gauss-Newton product of this model cannot be computed: ' + (part === 'model'
      ? `the model is not linearized${reason ? ` (${reason})` : ''}, and its Jacobian by the double vjp needs the derivative of tfjs op '${op}', which tfjs does not have. ` +
        'Use a model of the kernels in LINEARIZED_KERNELS'
      : `the loss's second derivative needs that of tfjs op '${op}', which tfjs cannot compute correctly${reason ? ` (the loss is not linearized: ${reason})` : ''}. ` +
        'Use a loss of the kernels in LINEARIZED_KERNELS') +
      ', or a solver without Hessian products (L-BFGS, Adam).');
    this.name = 'UnsupportedGaussNewtonError';
    this.op = op;
  }
}

export class TfjsFunction implements ObjectiveFunction {
  readonly size: number;
  readonly layout: ParameterLayout;
  readonly counts: OracleCounts = { objectives: 0, gradients: 0, hessianProducts: 0, oracleCalls: 0, epochs: 0 };
  /** Total number of samples over all batches. */
  readonly datasetSize: number;

  private readonly loss: Loss;
  private readonly batches: OwnedBatch[];
  private current = 0;
  private updates = 0;
  private readonly forwardFn: (params: readonly tf.Tensor[], x: tf.Tensor) => tf.Tensor;
  /** Parameter tensors handed to tf.grads: the model's variables, or owned tensors. */
  private readonly variables: tf.Variable[] | undefined;
  private readonly initial: Float64Array;
  private point: { x: Float64Array; params: tf.Tensor[] } | undefined;
  private disposed = false;
  /** Per-batch factors on f, g and Hv (data-parallel shares); undefined: all 1. */
  private weights: readonly number[] | undefined;

  /** 'float64' when created on petscml-float64: f, g and every product computed in double. */
  readonly precision: Precision = isFloat64Backend() ? 'float64' : 'float32';

  /** Use createTfjsFunction (it starts the backend and reads async data first). */
  constructor(model: Model, loss: Loss, batches: OwnedBatch[]) {
    if (batches.length === 0) throw new Error('petscml: the data source yielded no batches');
    if (model === null || typeof model !== 'object') throw new TypeError('petscml: model must be a tf.LayersModel or { apply(params, x), params }');
    if (!isLayersModel(model)) {
      const m = model as Partial<FunctionModel>;
      if (typeof m.apply !== 'function' || m.params === null || typeof m.params !== 'object' || Object.keys(m.params).length === 0 ||
        !Object.values(m.params).every((t) => t instanceof tf.Tensor)) {
        throw new TypeError('petscml: model must be a tf.LayersModel or { apply(params, x), params } with params a non-empty record of tf.Tensors');
      }
    }
    this.loss = loss;
    this.batches = batches;
    this.datasetSize = batches.reduce((s, b) => s + b.n, 0);
    if (isLayersModel(model)) {
      const weights = model.trainableWeights;
      this.layout = new ParameterLayout(weights.map(w => ({ name: w.name, shape: w.shape as number[] })));
      this.variables = weights.map(w => w.read() as tf.Variable);
      this.forwardFn = (_params, x) => model.apply(x, { training: false }) as tf.Tensor;
      this.initial = this.layout.flatten(this.variables);
    } else {
      const names = Object.keys(model.params);
      this.layout = new ParameterLayout(names.map(name => ({ name, shape: model.params[name].shape })));
      this.variables = undefined;
      const apply = model.apply;
      this.forwardFn = (params, x) => {
        const record: Record<string, tf.Tensor> = {};
        names.forEach((n, i) => { record[n] = params[i]; });
        return apply(record, x);
      };
      this.initial = this.layout.flatten(names.map(n => model.params[n]));
    }
    this.size = this.layout.size;
    if (this.size === 0) throw new Error('petscml: the model has no trainable parameters');
    // Every batch must have the first one's per-sample shapes, and the model must map them to y's.
    const [first] = batches;
    batches.forEach((b, i) => {
      if (!tf.util.arraysEqual(b.x.shape.slice(1), first.x.shape.slice(1)) || !tf.util.arraysEqual(b.y.shape.slice(1), first.y.shape.slice(1))) {
        throw new RangeError(`petscml: batch ${i} has x ${shapeText(b.x.shape)} and y ${shapeText(b.y.shape)}, but batch 0 has x ` +
          `${shapeText(first.x.shape)} and y ${shapeText(first.y.shape)}: every batch needs the same shape per sample`);
      }
    });
    this.inputShape = isLayersModel(model) && model.inputs?.length === 1 ? model.inputs[0].shape : undefined;
    try {
      this.checkFit(first, batches.length > 1 ? 'batch 0' : 'data', this.loss, 'the loss');
    } catch (e) {
      if (this.ownParamsCache) tf.dispose(this.ownParamsCache);
      throw e;
    }
  }

  private readonly inputShape: (number | null)[] | undefined;

  /**
   * The model's output on `b` must have y's shape exactly, and `loss` must
   * give a scalar there: a [n, 1] output against a [n] target would otherwise broadcast to n x n,
   * and a 1-column output against 3-column targets would silently be compared with each column.
   */
  private checkFit(b: OwnedBatch, what: string, loss: Loss, lossWhat: string): void {
    const per = b.x.shape.slice(1);
    if (this.inputShape) {
      const want = this.inputShape.slice(1);
      if (want.length !== per.length || want.some((d, i) => d !== null && d !== per[i])) {
        throw new RangeError(`petscml: ${what} x has shape ${shapeText(b.x.shape)}, ${shapeText(per)} per sample, ` +
          `but the model takes ${shapeText(want)} per sample (input shape ${shapeText(this.inputShape)})`);
      }
    }
    // The whole batch, not a sample or two: some models fix the batch size in a reshape.
    const k = b.n;
    const params = this.variables ?? this.ownParams();
    tf.tidy(() => {
      const xs = b.x;
      const ys = b.y;
      let out: tf.Tensor;
      try {
        out = this.forwardFn(params, xs);
      } catch (e) {
        throw new Error(`petscml: the model fails on ${what} x (shape ${shapeText(b.x.shape)}): ${(e as Error).message}`, { cause: e });
      }
      if (!(out instanceof tf.Tensor)) throw new TypeError(`petscml: the model must return a tf.Tensor, got ${typeof out}`);
      if (!tf.util.arraysEqual(out.shape.slice(1), ys.shape.slice(1)) || out.shape[0] !== k) {
        throw new RangeError(`petscml: the model's output has shape ${shapeText([b.n, ...out.shape.slice(1)])} on ${what} ` +
          `(${shapeText(out.shape.slice(1))} per sample) but y has shape ${shapeText(b.y.shape)} (${shapeText(ys.shape.slice(1))} per sample); ` +
          'they must match exactly (reshape y, or change the last layer)');
      }
      scalarOf(loss(out, ys), `${lossWhat} (on ${what}, ${k} samples)`);
    });
  }

  private ownParamsCache: tf.Tensor[] | undefined;
  /** A plain function model's parameters, for the shape check before any point is set. */
  private ownParams(): tf.Tensor[] {
    this.ownParamsCache ??= this.layout.fold(this.initial);
    return this.ownParamsCache;
  }

  /**
   * Checks that `data` fits the model as the training data does (shapes, counts, finite values)
   * and that `metric` (default: mean relative error) gives a scalar on it. Throws naming the problem.
   */
  checkData(data: Batch, what = 'data', metric: Metric = meanRelativeError): void {
    this.checkAlive();
    const b = ownBatch(data, what);
    try {
      const t = this.batches[0];
      if (!tf.util.arraysEqual(b.x.shape.slice(1), t.x.shape.slice(1)) || !tf.util.arraysEqual(b.y.shape.slice(1), t.y.shape.slice(1))) {
        throw new RangeError(`petscml: ${what} has x ${shapeText(b.x.shape)} and y ${shapeText(b.y.shape)}, but the training data has ` +
          `x ${shapeText(t.x.shape)} and y ${shapeText(t.y.shape)}: the shapes per sample must be the same`);
      }
      this.checkFit(b, what, metric, `the metric of ${what}`);
    } finally {
      tf.dispose([b.x, b.y]);
    }
  }

  /** The model's parameters at creation, flattened (a copy). */
  initialParameters(): Float64Array {
    return this.initial.slice();
  }

  /** The batch the function currently evaluates on (index into the batch list). */
  get batchIndex(): number { return this.current; }
  get batchCount(): number { return this.batches.length; }
  /** Samples in each of this process's batches. */
  get batchSizes(): number[] { return this.batches.map((b) => b.n); }

  /**
   * @internal Multiplies f, g and Hessian products on batch b by weights[b] (float64, after
   * tfjs's float32 work): a data-parallel rank's share of each global batch.
   */
  setBatchWeights(weights: readonly number[]): void {
    if (weights.length !== this.batches.length || weights.some((w) => !(Number.isFinite(w) && w >= 0))) {
      throw new Error(`petscml: batch weights must be ${this.batches.length} finite numbers >= 0`);
    }
    this.weights = weights.every((w) => w === 1) ? undefined : weights.slice();
  }

  private weight(): number {
    return this.weights ? this.weights[this.current] : 1;
  }

  private share(): number {
    return this.batches[this.current].n / this.datasetSize;
  }

  private count(kind: 'objective' | 'gradient' | 'exact' | 'gauss-newton'): void {
    const s = this.share();
    const c = this.counts;
    switch (kind) {
      case 'objective': c.objectives += s; c.oracleCalls += s; break;
      case 'gradient': c.gradients += s; c.oracleCalls += 2 * s; break;
      case 'exact': c.hessianProducts += s; c.oracleCalls += 4 * s; break;
      case 'gauss-newton': c.hessianProducts += s; c.oracleCalls += 2 * s; break;
    }
  }

  private checkAlive(): void {
    if (this.disposed) throw new Error('petscml: this TfjsFunction has been disposed');
  }

  /**
   * The parameter tensors at x, reused while x is unchanged (a solver evaluates many products at
   * one point). For a LayersModel these are its variables, assigned from x.
   */
  private paramsAt(x: Float64Array): tf.Tensor[] {
    this.checkAlive();
    if ((this.precision === 'float64') !== isFloat64Backend()) {
      throw new Error(`petscml: this function computes in ${this.precision}, but tfjs's active backend is now '${tf.getBackend()}' ` +
        `(it was ${this.precision === 'float64' ? "'petscml-float64'" : 'a float32 backend'} at creation); switch back before evaluating it`);
    }
    if (this.point && equalArrays(this.point.x, x)) return this.point.params;
    this.releaseLinearizations();
    if (this.variables) {
      const values = this.layout.fold(x);
      this.variables.forEach((v, i) => v.assign(values[i]));
      tf.dispose(values);
      this.point = { x: x.slice(), params: this.variables.slice() };
    } else {
      if (this.point) tf.dispose(this.point.params);
      this.point = { x: x.slice(), params: this.layout.fold(x) };
    }
    return this.point.params;
  }

  private lossAt(params: readonly tf.Tensor[], batch: OwnedBatch): tf.Scalar {
    return scalarOf(this.loss(this.forwardFn(params, batch.x), batch.y), 'the loss');
  }

  objective(x: Float64Array): number {
    const params = this.paramsAt(x);
    const batch = this.batches[this.current];
    const f = tf.tidy(() => this.lossAt(params, batch));
    const value = f.dataSync()[0];
    f.dispose();
    this.count('objective');
    return value * this.weight();
  }

  gradient(x: Float64Array, g: Float64Array): void {
    this.objectiveAndGradient(x, g);
  }

  objectiveAndGradient(x: Float64Array, g: Float64Array): number {
    const params = this.paramsAt(x);
    const batch = this.batches[this.current];
    const out = tf.tidy(() => {
      const { value, grads } = tf.valueAndGrads((...p: tf.Tensor[]) => this.lossAt(p, batch))(params);
      return [value, ...grads];
    });
    try {
      this.layout.flattenInto(out.slice(1), g);
      const value = out[0].dataSync()[0];
      this.count('gradient');
      const w = this.weight();
      if (w !== 1) scaleInPlace(g, w);
      // f comes with the gradient's forward pass: counted as a gradient (2 calls), no more.
      return value * w;
    } finally {
      tf.dispose(out);
    }
  }

  hessian(kind: HessianKind): HessianOperator {
    if (kind !== 'exact' && kind !== 'gauss-newton') throw new Error(`petscml: unknown Hessian kind '${String(kind)}'`);
    return kind === 'exact' ? new ExactHessian(this) : new GaussNewtonHessian(this);
  }

  /**
   * @internal exact H v at x. The gradient is linearized once per point and batch (its recording
   * is forward and backward pass with tfjs's tape on, linearize.ts): each product is then one
   * tangent pass through it (forward over reverse). A gradient with a kernel that has no
   * forward-mode rule is differentiated again by tfjs instead (reverse over reverse).
   */
  exactProduct(x: Float64Array, v: Float64Array, y: Float64Array): void {
    const params = this.paramsAt(x);
    const batch = this.batches[this.current];
    const at = this.linearizedAt(params, batch);
    if (!at.exactTried) {
      at.exactTried = true;
      at.exact = this.tryLinearize('exact', () => withExactSecondOrder(() =>
        linearize((p) => tf.grads((...q: tf.Tensor[]) => this.lossAt(q, batch))(p as tf.Tensor[]), params), { linearizing: true }));
    }
    const exact = at.exact;
    this.product(v, y, 'exact', (vs) => exact ? exact.jvp(vs) : tf.grads((...p: tf.Tensor[]) => {
      const g = withExactSecondOrder(() => tf.grads((...q: tf.Tensor[]) => this.lossAt(q, batch))(p));
      return dot(g, vs);
    })(params));
  }

  /**
   * @internal J^T H_loss J v at x. The model and the loss's gradient are linearized once per point
   * and batch: each product is then a tangent pass through both and a cotangent pass through the
   * model (linearize.ts). A model or loss with a kernel that has no forward-mode rule uses the
   * double vjp instead (the same product, about twice the work).
   */
  gaussNewtonProduct(x: Float64Array, v: Float64Array, y: Float64Array): void {
    const params = this.paramsAt(x);
    const batch = this.batches[this.current];
    const at = this.linearizedAt(params, batch);
    if (!at.z) {
      at.model = this.tryLinearize('model', () => linearize((p) => this.forwardFn(p, batch.x), params));
      at.z = at.model ? at.model.outputs[0] : tf.keep(tf.tidy(() => this.forwardFn(params, batch.x)));
      const z = at.z;
      at.loss = this.tryLinearize('loss', () => withExactSecondOrder(() =>
        linearize(([zz]) => tf.grad((z2: tf.Tensor) => this.loss(z2, batch.y))(zz), [z]), { linearizing: true }));
    }
    const { model, loss, z } = at;
    this.product(v, y, 'gauss-newton', (vs) => {
      // Without the model's linearization, J v = d/du <J^T u, v>: linear in u, so any u works (zeros).
      const jv = model ? model.jvp(vs)[0] : tf.grad((u: tf.Tensor) => dot(this.modelVjp(params, batch, u), vs))(tf.zerosLike(z));
      const hjv = loss ? loss.jvp([jv])[0] : withExactSecondOrder(() =>
        tf.grad((zz: tf.Tensor) => tf.sum(tf.mul(tf.grad((z2: tf.Tensor) => this.loss(z2, batch.y))(zz), jv)))(z));
      return model ? model.vjp([hjv]) : this.modelVjp(params, batch, hjv);
    });
  }

  private modelVjp(params: readonly tf.Tensor[], batch: OwnedBatch, dz: tf.Tensor): tf.Tensor[] {
    return tf.grads((...p: tf.Tensor[]) => this.forwardFn(p, batch.x))(params as tf.Tensor[], dz);
  }

  /** What the Hessian products at one point and batch share; released when either moves. */
  private linearized: {
    params: readonly tf.Tensor[]; batch: OwnedBatch;
    z?: tf.Tensor; model?: Linearization; loss?: Linearization; exactTried?: boolean; exact?: Linearization;
  } | undefined;
  /** Why the model, the loss's gradient or the gradient is not linearized (kept: a model's kernels do not change). */
  private readonly unsupported: Partial<Record<'model' | 'loss' | 'exact', string>> = {};
  /** Why a part's products cannot be computed at all (the error they threw). */
  private readonly refused: Partial<Record<'model' | 'loss' | 'exact', string>> = {};

  private linearizedAt(params: readonly tf.Tensor[], batch: OwnedBatch): NonNullable<TfjsFunction['linearized']> {
    if (this.linearized?.params !== params || this.linearized.batch !== batch) {
      this.releaseLinearizations();
      this.linearized = { params, batch };
    }
    return this.linearized;
  }

  private tryLinearize(what: 'model' | 'loss' | 'exact', build: () => Linearization): Linearization | undefined {
    if (this.unsupported[what] !== undefined) return undefined;
    try {
      return build();
    } catch (e) {
      if (!(e instanceof LinearizationUnsupportedError)) {
        const t = translateGradientError(e);
        if (!(t instanceof UnsupportedSecondDerivativeError) || what === 'model') throw t;
        // The guard refused a second derivative: no product of this kind can be computed.
        const err = what === 'loss' ? new UnsupportedGaussNewtonError(t.op, 'loss', undefined) : t;
        this.refused[what] = err.message;
        throw err;
      }
      this.unsupported[what] = e.message;
      return undefined;
    }
  }

  private releaseLinearizations(): void {
    const at = this.linearized;
    this.linearized = undefined;
    if (!at) return;
    at.exact?.dispose();
    at.loss?.dispose();
    if (at.model) at.model.dispose(); else at.z?.dispose();
  }

  /**
   * How the Hessian products are computed: 'linearized' (one recording per point, then tangent and
   * cotangent passes per product; linearize.ts), 'double-vjp' (tfjs's reverse mode twice) or
   * 'refused' (a product of that kind threw), for the Gauss-Newton product's model and loss parts
   * and for the exact product, with the reasons for each part not linearized. Each part is known
   * once a product of its kind has been tried.
   */
  linearizationReport(): { model: LinearizationPath; loss: LinearizationPath; exact: LinearizationPath; reasons: string[] } {
    const u = this.unsupported, r = this.refused;
    const parts = ['model', 'loss', 'exact'] as const;
    const path = (k: typeof parts[number]): LinearizationPath => (r[k] !== undefined ? 'refused' : u[k] === undefined ? 'linearized' : 'double-vjp');
    return {
      model: path('model'), loss: path('loss'), exact: path('exact'),
      reasons: parts.flatMap((k) => [u[k], r[k]].filter((m): m is string => m !== undefined).map((m) => `${k}: ${m}`)),
    };
  }

  /**
   * y = the product `compute` builds from v (folded to tensors), scaled by the batch's data-parallel
   * weight; tfjs errors become petscml's, and every tensor is released whatever happens.
   */
  private product(v: Float64Array, y: Float64Array, kind: HessianKind, compute: (vs: tf.Tensor[]) => tf.Tensor[]): void {
    const vs = this.layout.fold(v);
    let out: tf.Tensor[] = [];
    try {
      out = disposingKeptOnError(() => tf.tidy(() => compute(vs)));
      this.layout.flattenInto(out, y);
      const w = this.weight();
      if (w !== 1) scaleInPlace(y, w);
    } catch (e) {
      const t = translateGradientError(e);
      // The guard's message is about exact products; a Gauss-Newton product fails for another reason.
      if (kind === 'gauss-newton' && t instanceof UnsupportedSecondDerivativeError) {
        const part = this.unsupported.model !== undefined ? 'model' : 'loss';
        const gn = new UnsupportedGaussNewtonError(t.op, part, this.unsupported[part]);
        this.refused[part] = gn.message;
        throw gn;
      }
      if (kind === 'exact' && t instanceof UnsupportedSecondDerivativeError) this.refused.exact = t.message;
      throw t;
    } finally {
      tf.dispose(vs);
      tf.dispose(out);
    }
    this.count(kind);
  }

  /**
   * TAO's per-iteration hook. Each iteration consumes one batch (counted in epochs). With
   * several batches, iterations after the first move to the next batch and return f and g at x
   * on it (TAO 3.18 does not recompute them); the first iteration keeps the batch the solver's
   * initial evaluation used. Full batch: returns undefined.
   */
  update(iteration: number, x: Float64Array, g: Float64Array): number | undefined {
    this.checkAlive();
    const first = this.updates === 0;
    this.updates++;
    if (this.batches.length === 1 || first) {
      this.counts.epochs += this.share();
      return undefined;
    }
    void iteration;
    this.current = (this.current + 1) % this.batches.length;
    this.counts.epochs += this.share();
    return this.objectiveAndGradient(x, g);
  }

  /** Moves to batch `index` without evaluating (for callers driving mini-batches themselves). */
  selectBatch(index: number): void {
    if (!(index >= 0 && index < this.batches.length)) throw new Error(`petscml: batch index ${index} out of range`);
    this.current = index;
  }

  /** The model's prediction at parameters x for inputs (a new tensor, caller disposes). */
  predict(x: Float64Array, inputs: tf.Tensor): tf.Tensor {
    const params = this.paramsAt(x);
    return tf.tidy(() => this.forwardFn(params, inputs));
  }

  /** A metric (default: mean relative error, eq. 7) of the model at x on a data set. */
  evaluate(x: Float64Array, data: Batch, metric: Metric = meanRelativeError): number {
    const params = this.paramsAt(x);
    const b = ownBatch(data, 'evaluate: data');
    try {
      const m = tf.tidy(() => {
        const out = this.forwardFn(params, b.x);
        if (!tf.util.arraysEqual(out.shape, b.y.shape)) {
          throw new RangeError(`petscml: evaluate: the model's output has shape ${shapeText(out.shape)} but y has shape ${shapeText(b.y.shape)}`);
        }
        return scalarOf(metric(out, b.y), 'the metric');
      });
      const value = m.dataSync()[0];
      m.dispose();
      return value;
    } finally {
      tf.dispose([b.x, b.y]);
    }
  }

  /** Writes x into the model (a LayersModel's variables; otherwise kept for predict). */
  setParameters(x: Float64Array): void {
    this.paramsAt(x);
  }

  /** Releases every tensor this function owns (not a LayersModel's own variables). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.releaseLinearizations();
    if (this.point && !this.variables) tf.dispose(this.point.params);
    this.point = undefined;
    if (this.ownParamsCache) tf.dispose(this.ownParamsCache);
    this.ownParamsCache = undefined;
    for (const b of this.batches) tf.dispose([b.x, b.y]);
    this.batches.length = 0;
  }
}

class ExactHessian implements HessianOperator {
  readonly kind = 'exact' as const;
  private x: Float64Array | undefined;
  constructor(private readonly fn: TfjsFunction) {}
  setPoint(x: Float64Array): void { this.x = x.slice(); }
  apply(v: Float64Array, y: Float64Array): void {
    if (!this.x) throw new Error('petscml: Hessian apply before setPoint');
    this.fn.exactProduct(this.x, v, y);
  }
}

class GaussNewtonHessian implements HessianOperator {
  readonly kind = 'gauss-newton' as const;
  private x: Float64Array | undefined;
  constructor(private readonly fn: TfjsFunction) {}
  setPoint(x: Float64Array): void { this.x = x.slice(); }
  apply(v: Float64Array, y: Float64Array): void {
    if (!this.x) throw new Error('petscml: Hessian apply before setPoint');
    // What depends only on the point (and batch) is kept by the function until either moves.
    this.fn.gaussNewtonProduct(this.x, v, y);
  }
}

/**
 * Each batch's share n_rb / sum_r n_rb of its global batch, agreed over PETSc's world (one
 * allreduce, every rank the same outcome: a mismatch throws on every rank, never hangs).
 */
function dataParallelWeights(counts: number[]): number[] {
  const nb = counts.length;
  // Max of the count and of its negation: equal magnitudes mean every rank has the same count.
  const { allreduce } = collective();
  const ext = allreduce([nb, -nb], 'max');
  if (ext[0] !== -ext[1]) {
    throw new Error(`petscml: dataParallel: ranks have different numbers of batches (between ${-ext[1]} and ${ext[0]}); ` +
      'shard every global batch over all ranks (shardBatches does)');
  }
  const totals = allreduce(counts, 'sum');
  return counts.map((n, i) => n / totals[i]);
}

/**
 * Starts the backend, reads the data and builds the function. Parameters are flattened in the
 * order documented in parameters.ts.
 */
export async function createTfjsFunction(options: TfjsFunctionOptions): Promise<TfjsFunction & { backend: BackendChoice }> {
  // On several ranks (dataParallel), every rank reaches the agreement below even when its own
  // part fails, so that a rank's bad data makes every rank throw instead of leaving them waiting.
  let fn: (TfjsFunction & { backend: BackendChoice }) | undefined;
  let failure: unknown;
  const parallel = options !== null && typeof options === 'object' && options.dataParallel === true;
  try {
    fn = await buildTfjsFunction(options);
  } catch (e) {
    failure = e;
  }
  if (parallel) {
    const batch = fn ? (fn as unknown as { batches: OwnedBatch[] }).batches[0] : undefined;
    try {
      // precision too: a float32 rank summing with a float64 one would round the whole run.
      agreeAcrossRanks('createTfjsFunction', ['parameter count', 'number of batches', 'x shape per sample', 'y shape per sample', 'precision'],
        fn && batch ? [fn.size, fn.batchCount, shapeText(batch.x.shape.slice(1)), shapeText(batch.y.shape.slice(1)), fn.precision] : undefined, failure);
      fn!.setBatchWeights(dataParallelWeights(fn!.batchSizes));
    } catch (e) {
      fn?.dispose();
      throw e;
    }
  } else if (failure !== undefined) {
    throw failure;
  }
  return fn!;
}

async function buildTfjsFunction(options: TfjsFunctionOptions): Promise<TfjsFunction & { backend: BackendChoice }> {
  if (options === null || typeof options !== 'object') throw new TypeError('petscml: createTfjsFunction: expected an options object { model, data, loss?, batchSize? }');
  for (const k of Object.keys(options)) {
    if (!(FUNCTION_OPTION_KEYS as readonly string[]).includes(k)) {
      throw new TypeError(`petscml: createTfjsFunction: unknown option '${k}'; known options are ${FUNCTION_OPTION_KEYS.join(', ')}`);
    }
  }
  if (options.dataParallel !== undefined && typeof options.dataParallel !== 'boolean') {
    throw new TypeError(`petscml: createTfjsFunction: dataParallel must be a boolean, got ${typeof options.dataParallel}`);
  }
  const precision = options.precision;
  if (precision !== undefined && precision !== 'float32' && precision !== 'float64') {
    throw new RangeError(`petscml: createTfjsFunction: precision must be 'float32' or 'float64', got ${JSON.stringify(precision)}`);
  }
  if (precision === 'float64' && options.backend !== undefined && options.backend !== 'petscml-float64') {
    throw new RangeError(`petscml: createTfjsFunction: precision 'float64' runs on the petscml-float64 backend (tfjs has no float64; only ` +
      `petscml's engine computes in double), but backend '${options.backend}' was asked for`);
  }
  const backend = await initBackend(precision === 'float64' ? { ...options, backend: 'petscml-float64' } : options);
  if (precision === 'float32' && backend.name === 'petscml-float64') {
    throw new RangeError("petscml: createTfjsFunction: precision 'float32' was asked for, but the backend is petscml-float64 " +
      '(chosen by the backend option or PETSCML_BACKEND); use precision float64, or another backend');
  }
  if (backend.name === 'wasm') installFastWasmKernels();
  const loss = resolveLoss(options.loss);
  const bs = options.batchSize;
  if (bs !== undefined && !(Number.isInteger(bs) && bs > 0 && bs <= 2 ** 31 - 1)) {
    throw new RangeError(`petscml: createTfjsFunction: batchSize must be an integer in [1, 2147483647], got ${String(bs)}`);
  }
  const batches: OwnedBatch[] = [];
  try {
    const data = options.data;
    if (isBatch(data)) {
      const all = ownBatch(data, 'data');
      if (bs === undefined || bs >= all.n) {
        batches.push(all);
      } else {
        for (let start = 0; start < all.n; start += bs) {
          const size = Math.min(bs, all.n - start);
          batches.push({ x: tf.slice(all.x, start, size), y: tf.slice(all.y, start, size), n: size });
        }
        tf.dispose([all.x, all.y]);
      }
    } else if (data && (typeof (data as AsyncIterable<Batch>)[Symbol.asyncIterator] === 'function' || typeof (data as Iterable<Batch>)[Symbol.iterator] === 'function')) {
      if (bs !== undefined) throw new Error('petscml: createTfjsFunction: batchSize splits in-memory {x, y} data; an iterable\'s batches are used as they come');
      let i = 0;
      if (typeof (data as AsyncIterable<Batch>)[Symbol.asyncIterator] === 'function') {
        for await (const b of data as AsyncIterable<Batch>) batches.push(ownBatch(b, `batch ${i++}`));
      } else {
        for (const b of data as Iterable<Batch>) batches.push(ownBatch(b, `batch ${i++}`));
      }
    } else {
      throw new Error('petscml: data must be {x, y}, an iterable or an async iterable of {x, y} batches');
    }
    const fn = new TfjsFunction(options.model, loss, batches) as TfjsFunction & { backend: BackendChoice };
    Object.defineProperty(fn, 'backend', { value: backend, enumerable: true });
    return fn;
  } catch (e) {
    for (const b of batches) tf.dispose([b.x, b.y]);
    throw e;
  }
}
