export { IDM } from './idm';
export type { IDMOptions } from './idm';
export { DiffusionModel, Unconditional, Palette, MMSE_SIGMA } from './diffusion';
export type { DiffusionUNetOptions, DiffusionOptions, HDiTOptions } from './diffusion';
export { InvFussion } from './invfussion';
export type { InvFussionOptions } from './invfussion';
export { load } from './any';
export type { AnyModel } from './any';
