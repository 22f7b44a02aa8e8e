export { darcy1d, solveDarcy1d, Random } from './darcy1d';
export type { Darcy1d, Darcy1dOptions, ArrayDataset } from './darcy1d';
export { burgers1d, sampleBurgersInitial, solveBurgers } from './burgers';
export type { Burgers1d, Burgers1dOptions, BurgersInitialOptions, BurgersSolveOptions } from './burgers';
export { diffusionReaction, solveDiffusionReaction, cubicSpline, SquaredExponentialField } from './diffusion-reaction';
export type {
  DiffusionReaction, DiffusionReactionOptions, DiffusionReactionSolveOptions, SolveDiffusionReactionOptions,
  DiffusionReactionSource, DiffusionReactionSolutions, SquaredExponentialFieldOptions,
} from './diffusion-reaction';
export { advection, advectionSolution, drawAdvectionInitial } from './advection';
export type { Advection, AdvectionOptions, AdvectionInitial, SquareWave, SquareWaveEllipse } from './advection';
export { poisson2d, solvePoisson2d, sampleCosineField } from './poisson2d';
export type { Poisson2d, Poisson2dOptions, CosineFieldOptions } from './poisson2d';
export { navierStokes2d, sampleVorticityInitial, solveNavierStokes2d } from './navier-stokes';
export type { NavierStokes2d, NavierStokes2dOptions, NavierStokesSolveOptions, VorticityInitialOptions, VorticityForcing } from './navier-stokes';
