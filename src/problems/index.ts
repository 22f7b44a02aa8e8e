export { darcy1d, solveDarcy1d, Random } from './darcy1d';
export type { Darcy1d, Darcy1dOptions, ArrayDataset } from './darcy1d';
export { burgers1d, sampleBurgersInitial, solveBurgers } from './burgers';
export type { Burgers1d, Burgers1dOptions, BurgersInitialOptions, BurgersSolveOptions } from './burgers';
