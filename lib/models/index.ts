export { IDM } from './idm';
export type { IDMOptions } from './idm';
export { DiffusionModel, Unconditional, Palette, MMSE_SIGMA } from './diffusion';
export type { DiffusionUNetOptions } from './diffusion';
export { load } from './any';
export type { AnyModel } from './any';
