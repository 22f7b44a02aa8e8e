/** petscml: train scientific machine-learning models with PETSc/TAO from TypeScript. */
export * from './petsc';
export * from './functions';
export * from './solvers';
export * from './data';
export * from './problems';
export * from './models';
export * from './monitor';
export * from './plot';
export { kernelReport, summarizeKernels, engineThreads, blasCore, NATIVE_KERNELS, BACKEND_NAME } from './engine';
export type { KernelCounts } from './engine';
