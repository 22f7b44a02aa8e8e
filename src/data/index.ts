/** Data for training: sharding by MPI rank and deterministic mini-batches. */
export * from './shard';
export { UnitGaussianNormalizer } from './normalizer';
export type { SampleArray } from './normalizer';
export { loadArrays, detectArrayFormat, parseNpy, columnMajorToRowMajor, toDataset } from './files';
export type { LoadedArray, ArrayFileFormat, ToDatasetOptions, ArrayLikeInput } from './files';
