/**
 * Parameter flattening and folding.
 *
 * ORDER (fixed and documented): parameters are laid out one after another, each in row-major
 * (C) order of its own shape, in this order:
 *  - a tf.LayersModel: `model.trainableWeights`, i.e. layer by layer in the model's layer order,
 *    and within a layer in the layer's weight order (Dense: kernel [in, out], then bias [out]);
 *  - a plain function model: the insertion order of the keys of the `params` record.
 *
 * Folding creates one tensor per parameter from a subarray of a single float32 copy of the
 * solver's float64 vector (one conversion per call); flattening reads each gradient tensor back
 * with dataSync into its slice. Nothing concatenates the whole vector (tf.concat + dataSync
 * costs 20-50 ms on a 100k-parameter model).
 */
import * as tf from '@tensorflow/tfjs';
import { exactTensor, isFloat64Backend } from './backend';

export interface ParameterEntry {
  readonly name: string;
  readonly shape: readonly number[];
  readonly size: number;
  /** Index of the first element in the flat vector. */
  readonly offset: number;
}

export class ParameterLayout {
  readonly entries: readonly ParameterEntry[];
  readonly size: number;

  constructor(items: readonly { name: string; shape: readonly number[] }[]) {
    let offset = 0;
    const seen = new Set<string>();
    this.entries = items.map(({ name, shape }) => {
      if (seen.has(name)) throw new Error(`petscml: duplicate parameter name '${name}'`);
      seen.add(name);
      const size = shape.reduce((a, b) => a * b, 1);
      const e = { name, shape: [...shape], size, offset };
      offset += size;
      return e;
    });
    this.size = offset;
  }

  /** The float32 copy of a float64 vector (the one precision conversion of a call). */
  toFloat32(x: Float64Array): Float32Array {
    if (x.length !== this.size) {
      throw new Error(`petscml: parameter vector has length ${x.length}, expected ${this.size}`);
    }
    return new Float32Array(x);
  }

  /** One tensor per parameter, in layout order. The caller disposes them. */
  fold(x: Float64Array | Float32Array): tf.Tensor[] {
    if (isFloat64Backend()) {
      if (x.length !== this.size) throw new Error(`petscml: parameter vector has length ${x.length}, expected ${this.size}`);
      return this.entries.map(e => exactTensor(x.subarray(e.offset, e.offset + e.size), e.shape as number[]));
    }
    const x32 = x instanceof Float32Array ? x : this.toFloat32(x);
    // Each tensor gets its own copy: the cpu backend keeps the array it is given.
    return this.entries.map(e => tf.tensor(x32.slice(e.offset, e.offset + e.size), e.shape as number[], 'float32'));
  }

  /** Writes tensors (in layout order) into `out`, converting float32 to float64. */
  flattenInto(tensors: readonly tf.Tensor[], out: Float64Array): void {
    if (out.length !== this.size) {
      throw new Error(`petscml: output vector has length ${out.length}, expected ${this.size}`);
    }
    this.entries.forEach((e, i) => {
      const t = tensors[i];
      if (t.size !== e.size) throw new Error(`petscml: tensor for '${e.name}' has ${t.size} elements, expected ${e.size}`);
      out.set(t.dataSync() as Float32Array, e.offset);
    });
  }

  /** Flattens tensors into a new Float64Array. */
  flatten(tensors: readonly tf.Tensor[]): Float64Array {
    const out = new Float64Array(this.size);
    this.flattenInto(tensors, out);
    return out;
  }

  /** Float32 views of `x` shaped per parameter (no copy), by name. */
  views(x: Float64Array): Record<string, Float64Array> {
    const r: Record<string, Float64Array> = {};
    for (const e of this.entries) r[e.name] = x.subarray(e.offset, e.offset + e.size);
    return r;
  }
}
