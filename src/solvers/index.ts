export { attachFunction } from './attach';
export type { AttachOptions, Attached } from './attach';
