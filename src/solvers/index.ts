export { attachFunction } from './attach';
export type { AttachOptions, Attached } from './attach';
export { driveMiniBatches, firstOrderOptionName, FIRST_ORDER_OPTIONS, FIRST_ORDER_TYPES } from './first-order';
export type { FirstOrderOption, FirstOrderOptionValue, FirstOrderType, MiniBatched } from './first-order';
