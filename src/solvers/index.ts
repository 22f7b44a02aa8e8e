export { attachFunction } from './attach';
export type { AttachOptions, Attached } from './attach';
export { createSolver, Solver, closeMatches } from './create';
export type { SolverOptions, TrainResult, TestSet, RecordSink } from './create';
export { PRESETS, FIRST_ORDER_TYPES, presetNames } from './presets';
export type { Preset, PresetName } from './presets';
