/** petscml: train scientific machine-learning models with PETSc/TAO from TypeScript. */
export * from './petsc';
export * from './functions';
export * from './solvers';
export * from './problems';
export type { RunRecord, HeaderRecord, IterationRecord, SummaryRecord, RecordCounts } from './monitor/record';
