// Images in and out: PNG, JPEG, TIFF (palette TIFF too), WebP through sharp, BMP through bmp-ts (sharp does
// not read BMP). Tensors are 1×C×H×W in [-1, 1]; 8- and 16-bit files are scaled by their own maximum.
// Writing is 8-bit and lossless except for JPEG.
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { decode as decodeBmp, encode as encodeBmp } from 'bmp-ts';
import { combine, tensor } from '../generated/ops';
import { scope, type Tensor } from '../tensor';

export type ImageMode = 'auto' | 'rgb' | 'gray' | 'y';

/** sharp's own default limit on input pixels: 0x3FFF × 0x3FFF. */
export const DEFAULT_PIXEL_LIMIT = 0x3fff * 0x3fff;

export interface ReadImageOptions {
  /**
   * auto: the file's own channels (1 or 3); rgb; gray (ITU-R 601 luma); y: the Y channel of YCbCr as the
   * compressed-sensing papers use it, 16 + (65.481 R + 128.553 G + 24.966 B) on 8-bit values (16-235),
   * and the image itself for grayscale files. Default auto.
   */
  mode?: ImageMode;
  /** Shorthand for mode: 'gray'. */
  grayscale?: boolean;
  /**
   * Images with more pixels (width × height) are refused before they are decoded, as sharp does; default
   * DEFAULT_PIXEL_LIMIT (268 M). `false` lifts the limit.
   */
  limitInputPixels?: number | false;
}

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.webp', '.bmp'];

/**
 * Decoded samples, row by row, `stride` per pixel; `channels` are the indices of R, G and B (or of the gray
 * value) among them. uint8 samples, or the bits of uint16 ones in an Int16Array (LibTorch has no uint16).
 * Typed arrays throughout: a 42-MP photo has 126 M samples, past what a JS array may hold.
 */
interface Samples {
  data: Uint8Array | Int16Array;
  width: number;
  height: number;
  stride: number;
  channels: number[];
  max: number;
}

function pixelLimit(limit: unknown): number | false {
  if (limit === undefined) return DEFAULT_PIXEL_LIMIT;
  if (limit === false || (Number.isSafeInteger(limit) && (limit as number) > 0)) return limit as number | false;
  throw new RangeError(`readImage: option 'limitInputPixels' must be a positive integer or false, got ${String(limit)}`);
}

// Before any pixel is decoded: a decompression bomb declares a size its few bytes do not hold.
function checkSize(file: string, width: number, height: number, limit: number | false): void {
  if (!(width > 0 && height > 0)) throw new Error(`readImage: '${file}' is ${width}×${height}; an image needs at least one pixel`);
  if (limit !== false && width * height > limit)
    throw new RangeError(`readImage: '${file}' is ${width}×${height} = ${width * height} pixels, more than the limit of ${limit} (option 'limitInputPixels'; false lifts it)`);
}

// bmp-ts trusts the header it is given and allocates width × height × 4 bytes from it, so the header is
// read here first (the BITMAPINFOHEADER fields, which every later header keeps and bmp-ts requires).
function checkBmp(buffer: Buffer, file: string, limit: number | false): void {
  if (buffer.length < 34 || buffer.toString('latin1', 0, 2) !== 'BM') throw new Error(`readImage: cannot decode '${file}': not a BMP file`);
  const dataOffset = buffer.readUInt32LE(10);
  const width = buffer.readInt32LE(18);
  const height = Math.abs(buffer.readInt32LE(22)); // negative: rows top-down
  const bits = buffer.readUInt16LE(28);
  const compression = buffer.readUInt32LE(30);
  checkSize(file, width, height, limit);
  // Uncompressed rows (BI_RGB, BI_BITFIELDS, BI_ALPHA_BITFIELDS) are 4-byte aligned and must all be there.
  if ([0, 3, 6].includes(compression)) {
    const bytes = Math.ceil((bits * width) / 32) * 4 * height;
    if (dataOffset + bytes > buffer.length)
      throw new Error(`readImage: '${file}' is truncated: its header declares ${width}×${height} at ${bits} bits (${bytes} bytes of pixels), the file holds ${Math.max(0, buffer.length - dataOffset)}`);
  }
}

async function decode(file: string, limit: number | false): Promise<Samples> {
  const buffer = await fs.promises.readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`readImage: cannot read '${file}': ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  if (path.extname(file).toLowerCase() === '.bmp') {
    checkBmp(buffer, file, limit);
    let bmp;
    try {
      bmp = decodeBmp(buffer);
    } catch (err) {
      throw new Error(`readImage: cannot decode '${file}': ${(err as Error).message}`);
    }
    return { data: bmp.data, width: bmp.width, height: bmp.height, stride: 4, channels: [3, 2, 1], max: 255 }; // ABGR bytes per pixel
  }
  let meta;
  try {
    meta = await sharp(buffer, { limitInputPixels: false }).metadata(); // the header only, so the size is ours to judge
  } catch (err) {
    throw new Error(`readImage: cannot decode '${file}': ${(err as Error).message}`);
  }
  checkSize(file, meta.width ?? 0, meta.height ?? 0, limit);
  const image = sharp(buffer, { limitInputPixels: limit });
  try {
    const sixteen = meta.depth === 'ushort';
    const gray = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0) === 1;
    // sharp turns raw output into sRGB unless told otherwise: keep gray files gray and 16-bit files 16-bit.
    const space = gray ? (sixteen ? 'grey16' : 'b-w') : sixteen ? 'rgb16' : 'srgb';
    const { data, info } = await image.removeAlpha().toColourspace(space).raw({ depth: sixteen ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 1 && info.channels !== 3) throw new Error(`${info.channels} channels`);
    let samples: Uint8Array | Int16Array = data;
    if (sixteen) {
      samples = new Int16Array(data.byteLength / 2); // a copy: the Buffer need not be 2-byte aligned
      new Uint8Array(samples.buffer).set(data);
    }
    return { data: samples, width: info.width, height: info.height, stride: info.channels, channels: info.channels === 1 ? [0] : [0, 1, 2], max: sixteen ? 65535 : 255 };
  } catch (err) {
    throw new Error(`readImage: cannot decode '${file}': ${(err as Error).message}`);
  }
}

// Each step frees its input once the next value exists: a float32 copy of a 42-MP photo is 500 MB.
function chain(x: Tensor, ...steps: ((x: Tensor) => Tensor)[]): Tensor {
  for (const step of steps) {
    const next = step(x);
    if (next !== x) x.dispose();
    x = next;
  }
  return x;
}

// Samples → C×H×W values in [0, 1]. RGB with R = G = B everywhere (a palette TIFF whose palette is the
// gray ramp, say) is a grayscale image: treating it as colour would map it through YCbCr's 16-235 range
// while true gray files keep 0-255.
function values(s: Samples): Tensor {
  const hwc = tensor(s.data, [s.height, s.width, s.stride], { dtype: s.data instanceof Int16Array ? 'int16' : 'uint8' });
  const views = s.channels.map((c) => hwc.select(2, c));
  const [r, g, b] = views;
  const channels = s.channels.length === 3 && r.equal(g) && r.equal(b) ? [s.channels[0]] : s.channels;
  for (const v of views) v.dispose(); // views keep their storage alive until disposed
  const identity = channels.length === s.stride && channels.every((c, i) => c === i);
  return chain(
    hwc,
    (x) => (identity ? x : x.indexSelect(2, tensor(channels, [channels.length], { dtype: 'int64' }))),
    (x) => x.permute([2, 0, 1]).to({ dtype: 'float32' }),
    (x) => (s.data instanceof Int16Array ? x.remainder(65536) : x), // int16 bits back to 0..65535
    (x) => x.div(s.max),
  );
}

function convert(x: Tensor, mode: ImageMode): Tensor {
  const channels = x.shape[0];
  if (mode === 'auto' || (channels === 1 && mode !== 'rgb')) return x;
  if (channels === 1) return x.expand([3, -1, -1]);
  if (mode === 'rgb') return x;
  const rgb = [0, 1, 2].map((c) => x.narrow(0, c, 1));
  const gray = mode === 'gray' ? combine(rgb, [0.299, 0.587, 0.114]) : chain(combine(rgb, [65.481 / 255, 128.553 / 255, 24.966 / 255]), (v) => v.add(16 / 255));
  for (const v of rgb) v.dispose(); // so chain can free the colour image's storage
  return gray;
}

/** Reads an image file into a 1×C×H×W tensor in [-1, 1]. */
export async function readImage(file: string, opts: ReadImageOptions = {}): Promise<Tensor> {
  const mode: ImageMode = opts.grayscale ? 'gray' : opts.mode ?? 'auto';
  if (!['auto', 'rgb', 'gray', 'y'].includes(mode)) throw new RangeError(`readImage: option 'mode' must be 'auto', 'rgb', 'gray' or 'y', got '${mode}'`);
  const samples = await decode(file, pixelLimit(opts.limitInputPixels));
  return scope(() =>
    chain(
      values(samples),
      (x) => convert(x, mode),
      (x) => x.mul(2).sub(1),
      (x) => x.unsqueeze(0).contiguous(),
    ),
  );
}

/** Writes a 1×C×H×W (or C×H×W) tensor in [-1, 1] as an 8-bit image; the format follows the extension. */
export async function writeImage(file: string, image: Tensor): Promise<void> {
  const shape = image.shape;
  const chw = shape.length === 4 && shape[0] === 1 ? shape.slice(1) : shape;
  if (chw.length !== 3 || (chw[0] !== 1 && chw[0] !== 3)) throw new RangeError(`writeImage: expected a 1×C×H×W or C×H×W image with C = 1 or 3, got shape [${shape}]`);
  const [c, h, w] = chw;
  const bytes = scope(() => {
    const hwc = chain(
      image.reshape(chw).permute([1, 2, 0]),
      (x) => x.add(1),
      (x) => x.mul(127.5),
      (x) => x.clamp({ min: 0, max: 255 }),
      (x) => x.round(),
      (x) => x.to({ dtype: 'uint8' }),
      (x) => x.contiguous(),
    );
    return hwc.toTypedArray() as Uint8Array;
  });
  await fs.promises.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  if (path.extname(file).toLowerCase() === '.bmp') {
    const abgr = Buffer.alloc(4 * w * h);
    for (let i = 0; i < w * h; i++) {
      const [r, g, b] = c === 1 ? [bytes[i], bytes[i], bytes[i]] : [bytes[3 * i], bytes[3 * i + 1], bytes[3 * i + 2]];
      abgr[4 * i] = 0;
      abgr[4 * i + 1] = b;
      abgr[4 * i + 2] = g;
      abgr[4 * i + 3] = r;
    }
    await fs.promises.writeFile(file, encodeBmp({ data: abgr, width: w, height: h, bitPP: 24 }).data);
    return;
  }
  // Lossless where the format allows it (sharp's TIFF default is JPEG compression, WebP's is lossy).
  const ext = path.extname(file).toLowerCase();
  let out = sharp(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { raw: { width: w, height: h, channels: c as 1 | 3 } });
  if (c === 1) out = out.toColourspace('b-w'); // a grey image stays one channel (sharp would write sRGB)
  if (ext === '.tif' || ext === '.tiff') out = out.tiff({ compression: 'lzw' });
  else if (ext === '.webp') out = out.webp({ lossless: true });
  else if (ext === '.jpg' || ext === '.jpeg') out = out.jpeg({ quality: 95 });
  await out.toFile(file);
}

/** Every image in a folder (sorted by name), read with the same options. */
export async function readImageFolder(dir: string, opts: ReadImageOptions = {}): Promise<{ name: string; image: Tensor }[]> {
  const names = (await fs.promises.readdir(dir)).filter((n) => IMAGE_EXTENSIONS.includes(path.extname(n).toLowerCase())).sort();
  if (!names.length) throw new Error(`readImageFolder: no images (${IMAGE_EXTENSIONS.join(', ')}) in '${dir}'`);
  const out = [];
  for (const name of names) out.push({ name, image: await readImage(path.join(dir, name), opts) });
  return out;
}
