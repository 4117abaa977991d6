// Checkpoints in the safetensors format, written atomically by the native core.
import * as fs from 'fs';
import * as path from 'path';
import { fromHandle, native, type Tensor } from './tensor';

export type NamedTensors = Record<string, Tensor> | [string, Tensor][];
export interface SafetensorsContents {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

function pairs(tensors: NamedTensors): [string, number][] {
  return (Array.isArray(tensors) ? tensors : Object.entries(tensors)).map(([n, t]) => [n, t.h]);
}

function contents(raw: { tensors: [string, number][]; metadata: Record<string, string> }): SafetensorsContents {
  // No prototype: a tensor named '__proto__' is a tensor like any other, not the object's prototype.
  const tensors: Record<string, Tensor> = Object.create(null);
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

/** Only the string metadata of a safetensors file: reads the header, not the tensors. */
export function readSafetensorsMetadata(file: string): Record<string, string> {
  const fd = fs.openSync(path.resolve(file), 'r');
  try {
    const size = Buffer.alloc(8);
    if (fs.readSync(fd, size, 0, 8, 0) !== 8) throw new Error(`'${file}' is not a safetensors file (shorter than its 8-byte header size)`);
    const length = Number(size.readBigUInt64LE(0));
    if (length > 100_000_000) throw new Error(`'${file}' is not a safetensors file (header size ${length})`);
    const header = Buffer.alloc(length);
    if (fs.readSync(fd, header, 0, length, 8) !== length) throw new Error(`'${file}' is truncated inside its header`);
    return JSON.parse(header.toString('utf8')).__metadata__ ?? {};
  } finally {
    fs.closeSync(fd);
  }
}
