/** The paper's experiments, rerun: data, models, REF and the second-order solvers, figures and tables. */
export { reproduceBurgers, BURGERS_SETTINGS, BURGERS_SOLVERS, BURGERS_CASE } from './burgers';
export type { BurgersSize, BurgersSetting, BurgersReference, ReproduceBurgersOptions, ReproduceBurgersResult, BurgersRun, BurgersHeadline } from './burgers';
export { reproduceNavierStokes, NAVIER_STOKES_SETTINGS, NAVIER_STOKES_SOLVERS, NAVIER_STOKES_CASE } from './navier-stokes';
export type { NavierStokesSetting, NavierStokesReference } from './navier-stokes';
export { runComparison } from './compare';
export type { CaseRun, Headline, ComparisonOptions, ComparisonResult, CommonCaseOptions } from './compare';
export { caseNames, loadCase, registerCase } from './cases';
export type { ReproduceCase, ReproduceOptions, CaseResult, CaseSize } from './cases';
