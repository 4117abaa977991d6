export { edmSigmas } from './schedule';
export type { ScheduleOptions } from './schedule';
export { classifierFreeGuidance } from './guidance';
export type { Denoiser, DenoiseContext, SamplerOptions, SampleResult, StepInfo } from './contract';
export { heun, heunAsync } from './heun';
export type { HeunOptions } from './heun';
export { euler, eulerAsync } from './euler';
export { ddim, ddimAsync } from './ddim';
export type { DdimOptions } from './ddim';
export { ddnm, ddnmAsync } from './ddnm';
export type { DdnmOptions } from './ddnm';
export { ddrm, ddrmAsync } from './ddrm';
export type { DdrmOptions } from './ddrm';
export { dps, dpsAsync } from './dps';
export type { DpsOptions } from './dps';
export { pigdm, pigdmAsync } from './pigdm';
export type { PigdmOptions } from './pigdm';
export { daps, dapsAsync } from './daps';
export type { DapsOptions } from './daps';

import { dapsOptionNames } from './daps';
import { ddimOptionNames } from './ddim';
import { ddnmOptionNames } from './ddnm';
import { ddrmOptionNames } from './ddrm';
import { dpsOptionNames } from './dps';
import { eulerOptionNames } from './euler';
import { heunOptionNames } from './heun';
import { pigdmOptionNames } from './pigdm';

/** The options each sampler takes beyond the common ones of SamplerOptions (an unknown key is an error). */
export const SAMPLER_OWN_OPTIONS = {
  heun: heunOptionNames, euler: eulerOptionNames, ddim: ddimOptionNames, ddnm: ddnmOptionNames,
  ddrm: ddrmOptionNames, dps: dpsOptionNames, pigdm: pigdmOptionNames, daps: dapsOptionNames,
} as const;
