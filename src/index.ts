/** petscml: train scientific machine-learning models with PETSc/TAO from TypeScript. */
export * from './petsc';
export * from './functions';
export * from './solvers';
export * from './data';
