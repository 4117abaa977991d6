// Checkpoints in the safetensors format, written atomically by the native core.
import { createHash } from 'crypto';
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

// The 8-byte little-endian header size, the JSON header and where the tensor bytes start.
function readHeader(fd: number, file: string): { header: Record<string, unknown>; dataStart: number } {
  const size = Buffer.alloc(8);
  if (fs.readSync(fd, size, 0, 8, 0) !== 8) throw new Error(`'${file}' is not a safetensors file (shorter than its 8-byte header size)`);
  const length = Number(size.readBigUInt64LE(0));
  if (length > 100_000_000) throw new Error(`'${file}' is not a safetensors file (header size ${length})`);
  const header = Buffer.alloc(length);
  if (fs.readSync(fd, header, 0, length, 8) !== length) throw new Error(`'${file}' is truncated inside its header`);
  return { header: JSON.parse(header.toString('utf8')), dataStart: 8 + length };
}

function withFile<T>(file: string, fn: (fd: number) => T): T {
  const fd = fs.openSync(path.resolve(file), 'r');
  try {
    return fn(fd);
  } finally {
    fs.closeSync(fd);
  }
}

// The native writer's checksum (native/core/safetensors.h): part of the file, not of the metadata a caller stored.
const CHECKSUM_KEY = 'invdiff.crc32';

/** Only the string metadata of a safetensors file: reads the header, not the tensors (nor verifies its checksum). */
export function readSafetensorsMetadata(file: string): Record<string, string> {
  const { [CHECKSUM_KEY]: _checksum, ...metadata } = withFile(file, (fd) => (readHeader(fd, file).header.__metadata__ as Record<string, string> | undefined) ?? {});
  return metadata;
}

/**
 * SHA-256 of what a file holds apart from its metadata: each tensor's name, dtype and shape, and the tensor
 * bytes. Rewriting the metadata leaves it unchanged; changing any weight changes it.
 */
export function safetensorsContentHash(file: string): string {
  return withFile(file, (fd) => {
    const { header, dataStart } = readHeader(fd, file);
    const hash = createHash('sha256');
    const entries = Object.entries(header).filter(([k]) => k !== '__metadata__').sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    hash.update(JSON.stringify(entries.map(([name, e]) => [name, (e as { dtype: string }).dtype, (e as { shape: number[] }).shape])));
    const chunk = Buffer.alloc(1 << 20);
    for (let at = dataStart, n; (n = fs.readSync(fd, chunk, 0, chunk.length, at)) > 0; at += n) hash.update(chunk.subarray(0, n));
    return `sha256:${hash.digest('hex')}`;
  });
}

/**
 * Replaces a file's metadata, leaving every tensor as it was: read (its checksum verified) and written again
 * by the native writer, which gives it a fresh checksum and replaces it atomically.
 */
export function rewriteSafetensorsMetadata(file: string, metadata: Record<string, string>): void {
  const { tensors } = loadSafetensors(file);
  try {
    saveSafetensors(file, Object.entries(tensors), metadata);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
