/** Model builders: the paper's Fourier neural operators, DeepONets and GreenLearning network. */
export { fno1d, fno3d } from './fno';
export type { Fno1d, Fno1dOptions, Fno3d, Fno3dOptions } from './fno';
export { deeponet, podDeeponet, glorotNormal } from './deeponet';
export type { DeepONet, DeepONetOptions, DeepONetActivation, PodDeepONet, PodDeepONetOptions } from './deeponet';
export { podBasis } from './pod';
export type { PodBasis, PodOptions } from './pod';
export { greenLearning } from './greenlearning';
export type { GreenLearning, GreenLearningOptions } from './greenlearning';
