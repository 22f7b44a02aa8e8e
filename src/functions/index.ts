/** The function layer: the interface the solvers see and its tfjs implementation. */
export * from './types';
export * from './backend';
export * from './gradients';
export * from './parameters';
export * from './losses';
export * from './layers';
export * from './tfjs-function';
export * from './linearize';
