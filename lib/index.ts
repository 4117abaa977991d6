// invdiff: diffusion models for imaging inverse problems, on a LibTorch native core.
import { addonError } from './tensor/native';
export { Tensor, scope, scopeAsync, keep } from './tensor';
export type { Dtype, Device, TypedArray } from './tensor';
// The package functions of the op schema, by name (test/layout.test.js names any function row missing here).
export {
  tensor, zeros, ones, full, arange, linspace, eye, randn, rand, randperm, manualSeed, gaussianNoise,
  combine, langevin, langevinAsync, where, cat, stack, einsum, complex, linear, conv2d, conv2dAsync,
  convTranspose2d, convTranspose2dAsync, interpolate, avgPool2d, maxPool2d, adaptiveAvgPool2d, pixelShuffle,
  pixelUnshuffle, groupNorm, layerNorm, attention, attentionAsync, neighborhoodAttention,
  neighborhoodAttentionAsync, jointNeighborhoodAttention, jointNeighborhoodAttentionAsync, dropout, mseLoss,
  l1Loss, grad, sheppLogan,
} from './generated/ops';
export { noGrad, enableGrad } from './autograd';
export { memory, resetPeakMemory } from './tensor';
export type { MemoryStats } from './tensor';
export { setNumThreads, backend } from './backend';
export type { BackendInfo } from './backend';
export { Module, moduleKinds, nn } from './module';
export type { ModuleOptions, ModuleInfo } from './module';
export * as optim from './optim';
export { saveSafetensors, saveSafetensorsAsync, loadSafetensors, loadSafetensorsAsync, readSafetensorsMetadata, safetensorsContentHash, rewriteSafetensorsMetadata } from './safetensors';
export type { SafetensorsContents, NamedTensors } from './safetensors';
export * as metrics from './metrics';
export { deadLeaves, mulberry32 } from './data/dead-leaves';
export { ImageDataset } from './data/dataset';
export type { ImageDatasetOptions } from './data/dataset';
export type { DeadLeavesOptions } from './data/dead-leaves';
export type { DatasetState, DatasetShard } from './data/dataset';
export type { SeededRandom } from './data/dead-leaves';
export * as io from './io';
export { encodePng } from './io/png';
export * as operators from './operators';
export * as samplers from './samplers';
export * as models from './models';
export * as training from './training';
export * as distributed from './training/distributed';
export { restoreImages, restoreImagesAsync, idmRestorer, samplerRestorer, mmseRestorer, restorerFor, evaluate, SAMPLER_NAMES } from './restoration';
export type { Restorer, Restored, RestoreOptions, SamplerName, Method, EvaluationOptions, EvaluationRow } from './restoration';
export type { NamedImage, Score } from './restoration';

// Requiring the package is where a missing or mismatched addon is reported (lib/addon says what to do).
if (addonError) throw addonError;
