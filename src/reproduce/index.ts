/** The paper's experiments, rerun: data, models, REF and the second-order solvers, figures and tables. */
export { reproduceBurgers, BURGERS_SETTINGS, BURGERS_SOLVERS, BURGERS_CASE } from './burgers';
export type { BurgersSize, BurgersSetting, BurgersReference, ReproduceBurgersOptions, ReproduceBurgersResult, BurgersRun, BurgersHeadline } from './burgers';
export { reproduceNavierStokes, NAVIER_STOKES_SETTINGS, NAVIER_STOKES_SOLVERS, NAVIER_STOKES_CASE } from './navier-stokes';
export type { NavierStokesSetting, NavierStokesReference } from './navier-stokes';
export { reproduceDiffusionReaction, DIFFUSION_REACTION_SETTINGS, DIFFUSION_REACTION_SOLVERS, DIFFUSION_REACTION_CASE, breakdownOf, plotBreakdown } from './diffusion-reaction';
export type { DiffusionReactionSetting, EpochBreakdown, SolverBreakdown } from './diffusion-reaction';
export { reproduceAdvection, ADVECTION_SETTINGS, ADVECTION_SOLVERS, ADVECTION_1_CASE, ADVECTION_2_CASE } from './advection';
export type { AdvectionSetting } from './advection';
export { reproduceGreenLearning, GREENLEARNING_SETTINGS, GREENLEARNING_SOLVERS, GREENLEARNING_CASE } from './greenlearning';
export type { GreenLearningSetting, GreenLearningReference } from './greenlearning';
export { runComparison } from './compare';
export type { CaseRun, Headline, ComparisonOptions, ComparisonResult, CommonCaseOptions } from './compare';
export { caseNames, loadCase, registerCase } from './cases';
export type { ReproduceCase, ReproduceOptions, CaseResult, CaseSize } from './cases';
