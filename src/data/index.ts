/** Data for training: sharding by MPI rank and deterministic mini-batches. */
export * from './shard';
export { UnitGaussianNormalizer } from './normalizer';
export type { SampleArray } from './normalizer';
export { loadArrays, arrayShapes, detectArrayFormat, parseNpy, columnMajorToRowMajor, toDataset } from './files';
export type { LoadedArray, LoadOptions, ArrayFileFormat, ToDatasetOptions, ArrayLikeInput } from './files';
