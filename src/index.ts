/** petscml: train scientific machine-learning models with PETSc/TAO from TypeScript. */
export * from './petsc';
export * from './functions';
export * from './solvers';
export * from './data';
export * from './problems';
export * from './monitor';
export * from './plot';
