/** Data for training: sharding by MPI rank and deterministic mini-batches. */
export * from './shard';
export { UnitGaussianNormalizer } from './normalizer';
export type { SampleArray } from './normalizer';
