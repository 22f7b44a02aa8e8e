/**
 * Sharding data by MPI rank, deterministically, for data-parallel training.
 *
 * The rule everywhere: a list of `count` samples is split into `size` contiguous blocks in rank
 * order whose lengths differ by at most one (the first `count % size` ranks get one more). Mini-
 * batches are formed from the WHOLE data set first (optionally in a seeded shuffled order), and
 * each global batch is then split by that rule, so the union over the ranks of batch b is the same
 * set of samples whatever the number of ranks. With `createTfjsFunction({ dataParallel: true })`
 * each rank's loss is weighted by its share of the batch, so the summed objective is the batch
 * mean exactly as one process computes it.
 */
import * as tf from '@tensorflow/tfjs';
import { world } from '../collective';

const comm = () => world();
import { argError, checkInt } from '../petsc/errors';
import type { Batch, DataTensor, ShapedArray } from '../functions/tfjs-function';

export interface RankOptions {
  /** This process's rank; default: the rank in PETSc's world (initializing PETSc if needed). */
  rank?: number;
  /** Number of ranks; default: the size of PETSc's world. */
  size?: number;
}

function who(opts: RankOptions, where: string): { rank: number; size: number } {
  if (opts === null || typeof opts !== 'object') throw argError(where, 'an options object', opts);
  const w = opts.rank === undefined || opts.size === undefined ? comm() : undefined;
  const size = opts.size === undefined ? w!.size : checkInt(`${where}: size`, opts.size, 1);
  const rank = opts.rank === undefined ? w!.rank : checkInt(`${where}: rank`, opts.rank);
  if (rank >= size) throw new RangeError(`petscml: ${where}: rank ${rank} is not below size ${size}`);
  return { rank, size };
}

/** [start, end) of rank's contiguous block of `count` items over `size` ranks (lengths differ by <= 1). */
export function shardRange(count: number, opts: RankOptions = {}): [number, number] {
  const n = checkInt('shardRange: count', count);
  const { rank, size } = who(opts, 'shardRange');
  const base = Math.floor(n / size), extra = n % size;
  const start = rank * base + Math.min(rank, extra);
  return [start, start + base + (rank < extra ? 1 : 0)];
}

/**
 * A permutation of 0..n-1 from a 32-bit seed (Fisher-Yates driven by mulberry32): the same on
 * every rank, every run and every platform.
 */
export function seededPermutation(n: number, seed: number): Int32Array {
  checkInt('seededPermutation: n', n);
  if (!Number.isInteger(seed)) throw argError('seededPermutation: seed', 'an integer', seed);
  let s = seed >>> 0;
  const rand = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

export interface BatchPlanOptions extends RankOptions {
  /** Samples per global mini-batch (the last may be smaller); default: one batch of everything. */
  batchSize?: number;
  /** Shuffles the samples before batching, with this seed; omitted: data order. */
  seed?: number;
}

/**
 * This rank's sample indices for each global mini-batch: the global batches are consecutive runs
 * of the (seeded) order of all `count` samples, and each is split over the ranks by shardRange.
 * Every rank gets the same number of batches; a rank never gets an empty part (refused).
 */
export function batchPlan(count: number, opts: BatchPlanOptions = {}): Int32Array[] {
  const n = checkInt('batchPlan: count', count, 1);
  const { rank, size } = who(opts, 'batchPlan');
  const bs = opts.batchSize === undefined ? n : checkInt('batchPlan: batchSize', opts.batchSize, 1);
  const order = opts.seed === undefined ? Int32Array.from({ length: n }, (_, i) => i) : seededPermutation(n, opts.seed);
  const plan: Int32Array[] = [];
  for (let start = 0; start < n; start += bs) {
    const len = Math.min(bs, n - start);
    if (len < size) {
      throw new RangeError(`petscml: batchPlan: a batch of ${len} samples cannot be split over ${size} ranks ` +
        '(each rank needs at least one sample): use a larger batchSize or fewer ranks');
    }
    const [lo, hi] = shardRange(len, { rank, size });
    plan.push(order.subarray(start + lo, start + hi));
  }
  return plan;
}

function rowsOf(d: DataTensor, what: string): number {
  if (d instanceof tf.Tensor) return d.shape[0];
  if (d && Array.isArray((d as ShapedArray).shape) && (d as ShapedArray).values) return (d as ShapedArray).shape[0];
  throw argError(what, 'a tf.Tensor or {values, shape}', d);
}

/** Rows [lo, hi) of x or y, of the same kind as the input (a tensor, or {values, shape}). */
function sliceRows(d: DataTensor, lo: number, hi: number): DataTensor {
  if (d instanceof tf.Tensor) return tf.slice(d, lo, hi - lo);
  const s = d as ShapedArray;
  const row = s.shape.slice(1).reduce((a, b) => a * b, 1);
  const values = Array.isArray(s.values) ? s.values.slice(lo * row, hi * row) : s.values.slice(lo * row, hi * row);
  return { values, shape: [hi - lo, ...s.shape.slice(1)] };
}

function takeRows(d: DataTensor, idx: Int32Array): DataTensor {
  if (d instanceof tf.Tensor) return tf.tidy(() => tf.gather(d, tf.tensor1d(idx, 'int32')));
  const s = d as ShapedArray;
  const row = s.shape.slice(1).reduce((a, b) => a * b, 1);
  const values = s.values instanceof Float64Array ? new Float64Array(idx.length * row) : new Float32Array(idx.length * row);
  for (let i = 0; i < idx.length; i++) {
    for (let k = 0; k < row; k++) values[i * row + k] = s.values[idx[i] * row + k];
  }
  return { values, shape: [idx.length, ...s.shape.slice(1)] };
}

function checkBatch(data: Batch, where: string): number {
  if (data === null || typeof data !== 'object' || !('x' in data) || !('y' in data)) throw argError(where, 'in-memory data {x, y}', data);
  const n = rowsOf(data.x, `${where}: x`);
  const m = rowsOf(data.y, `${where}: y`);
  if (n !== m) throw new RangeError(`petscml: ${where}: x has ${n} samples but y has ${m}`);
  return n;
}

/**
 * This rank's contiguous block of in-memory data (every rank passes the whole data set). Tensors
 * come back as new tensors (the caller disposes them); {values, shape} arrays as copies.
 */
export function shardData(data: Batch, opts: RankOptions = {}): Batch {
  const n = checkBatch(data, 'shardData');
  const { rank, size } = who(opts, 'shardData');
  if (n < size) {
    throw new RangeError(`petscml: shardData: ${n} samples cannot be split over ${size} ranks (each rank needs at least one)`);
  }
  const [lo, hi] = shardRange(n, { rank, size });
  return { x: sliceRows(data.x, lo, hi), y: sliceRows(data.y, lo, hi) };
}

/**
 * This rank's part of every global mini-batch of in-memory data (see batchPlan), ready for
 * `createTfjsFunction({ data: shardBatches(...), dataParallel: true })`.
 */
export function shardBatches(data: Batch, opts: BatchPlanOptions = {}): Batch[] {
  const n = checkBatch(data, 'shardBatches');
  return batchPlan(n, opts).map((idx) => ({ x: takeRows(data.x, idx), y: takeRows(data.y, idx) }));
}

/**
 * Loads only this rank's shard: `loader(rank, size)` reads and returns the samples this rank owns
 * (for example rows shardRange(total, {rank, size}) of a file). Use it when the whole data set
 * does not fit in one process.
 */
export async function loadShard<T = Batch>(loader: (rank: number, size: number) => T | Promise<T>): Promise<T> {
  if (typeof loader !== 'function') throw argError('loadShard: loader', 'a function (rank, size) => data', loader);
  const { rank, size } = comm();
  return loader(rank, size);
}
