export { attachFunction } from './attach';
export type { AttachOptions, Attached } from './attach';
export { createSolver, Solver, closeMatches } from './create';
export type { SolverOptions, TrainResult, TestSet, RecordSink } from './create';
export { PRESETS, presetNames } from './presets';
export type { Preset, PresetName } from './presets';
export { driveMiniBatches, firstOrderOptionName, FIRST_ORDER_OPTIONS, FIRST_ORDER_TYPES } from './first-order';
export type { FirstOrderOption, FirstOrderOptionValue, FirstOrderType, MiniBatched } from './first-order';
