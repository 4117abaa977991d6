export { trainIDM } from './idm';
export type { TrainIDMOptions } from './idm';
export { runTraining, checkpointWeights } from './runner';
export type { RunnerOptions, StepInfo, TrainingHistory, TrainingResult } from './runner';
export { trainDiffusion } from './diffusion';
export type { TrainDiffusionOptions } from './diffusion';
export { INVFUSSION_DEGRADATIONS, INVFUSSION_WEIGHTS, EDM2_TRAINING } from './mixture';
