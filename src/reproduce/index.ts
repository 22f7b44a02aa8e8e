/** The paper's experiments, rerun: data, models, REF and the second-order solvers, figures and tables. */
export { reproduceBurgers, BURGERS_SETTINGS, BURGERS_SOLVERS } from './burgers';
export type { BurgersSize, BurgersSetting, BurgersReference, ReproduceBurgersOptions, ReproduceBurgersResult, BurgersRun, BurgersHeadline } from './burgers';
