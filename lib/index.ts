// invdiff: diffusion models for imaging inverse problems, on a LibTorch native core.
export { Tensor } from './tensor';
export type { TypedArray } from './tensor';
export * from './generated/ops';
export { scope, scopeAsync, keep } from './scope';
export { noGrad, enableGrad } from './autograd';
export { memory, resetPeakMemory, setNumThreads, backend } from './backend';
export type { MemoryStats, BackendInfo } from './backend';
export { Module, moduleKinds, nn } from './module';
export type { ModuleOptions } from './module';
export * as optim from './optim';
export { saveSafetensors, saveSafetensorsAsync, loadSafetensors, loadSafetensorsAsync } from './safetensors';
export type { SafetensorsContents, NamedTensors } from './safetensors';
export * as metrics from './metrics';
export { deadLeaves, mulberry32 } from './data/dead-leaves';
export type { DeadLeavesOptions } from './data/dead-leaves';
export { encodePng } from './io/png';
export * as operators from './operators';
export * as samplers from './samplers';
