// The tensor layer, bottom to top: the native binding → TensorBase → scopes → the generated class Tensor.
export { native } from './native';
export type { Dtype, Device, TypedArray } from './types';
export { TensorBase } from './base';
export { scope, scopeAsync, keep, unkeep } from './scope';
export { memory, resetPeakMemory } from './memory';
export type { MemoryStats } from './memory';
export { checkOptions } from './options';
export { Tensor, fromHandle, th, tu } from '../generated/tensor';
