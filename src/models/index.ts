/** Model builders: Fourier neural operators (more of the paper's models join here). */
export { fno1d, fno3d } from './fno';
export type { Fno1d, Fno1dOptions, Fno3d, Fno3dOptions } from './fno';
