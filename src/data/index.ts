/** Data for training: sharding by MPI rank and deterministic mini-batches. */
export * from './shard';
