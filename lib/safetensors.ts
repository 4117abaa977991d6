// Checkpoints in the safetensors format, written atomically by the native core.
import * as path from 'path';
import { NativeBinding } from './generated/ops';
import { fromHandle, nativeAddon } from './runtime';
import type { Tensor } from './tensor';

const native = nativeAddon as NativeBinding;

export type NamedTensors = Record<string, Tensor> | [string, Tensor][];
export interface SafetensorsContents {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

function pairs(tensors: NamedTensors): [string, number][] {
  return (Array.isArray(tensors) ? tensors : Object.entries(tensors)).map(([n, t]) => [n, t.h]);
}

function contents(raw: { tensors: [string, number][]; metadata: Record<string, string> }): SafetensorsContents {
  const tensors: Record<string, Tensor> = {};
  for (const [name, h] of raw.tensors) tensors[name] = fromHandle(h);
  return { tensors, metadata: raw.metadata };
}

/** Writes tensors (and string metadata) to path: temp file, fsync, rename, fsync of the directory. */
export function saveSafetensors(file: string, tensors: NamedTensors, metadata: Record<string, string> = {}): void {
  native.saveSafetensors(path.resolve(file), pairs(tensors), metadata);
}
export function saveSafetensorsAsync(file: string, tensors: NamedTensors, metadata: Record<string, string> = {}): Promise<void> {
  return native['saveSafetensors$async'](path.resolve(file), pairs(tensors), metadata);
}
export function loadSafetensors(file: string): SafetensorsContents {
  return contents(native.loadSafetensors(path.resolve(file)));
}
export async function loadSafetensorsAsync(file: string): Promise<SafetensorsContents> {
  return contents(await native['loadSafetensors$async'](path.resolve(file)));
}
