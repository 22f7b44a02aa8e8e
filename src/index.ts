/** petscml: train scientific machine-learning models with PETSc/TAO from TypeScript. */
export * from './petsc';
export type { ObjectiveFunction, HessianOperator, HessianKind, OracleCounts } from './functions/types';
