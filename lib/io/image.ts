// Images in and out: PNG, JPEG, TIFF (palette TIFF too), WebP through sharp, BMP through bmp-ts (sharp does
// not read BMP). Tensors are 1×C×H×W in [-1, 1]; 8- and 16-bit files are scaled by their own maximum.
// Writing is 8-bit and lossless except for JPEG.
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { decode as decodeBmp, encode as encodeBmp } from 'bmp-ts';
import { tensor } from '../generated/ops';
import { scope, type Tensor } from '../tensor';

export type ImageMode = 'auto' | 'rgb' | 'gray' | 'y';

export interface ReadImageOptions {
  /**
   * auto: the file's own channels (1 or 3); rgb; gray (ITU-R 601 luma); y: the Y channel of YCbCr as the
   * compressed-sensing papers use it, 16 + (65.481 R + 128.553 G + 24.966 B) on 8-bit values (16-235),
   * and the image itself for grayscale files. Default auto.
   */
  mode?: ImageMode;
  /** Shorthand for mode: 'gray'. */
  grayscale?: boolean;
}

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.webp', '.bmp'];

interface Pixels {
  data: Float64Array; // interleaved, in [0, 1]
  width: number;
  height: number;
  channels: number; // 1 or 3
}

async function decode(file: string): Promise<Pixels> {
  const buffer = await fs.promises.readFile(file).catch((err: NodeJS.ErrnoException) => {
    throw new Error(`readImage: cannot read '${file}': ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  if (path.extname(file).toLowerCase() === '.bmp') {
    const bmp = decodeBmp(buffer); // ABGR bytes per pixel
    const data = new Float64Array(bmp.width * bmp.height * 3);
    for (let i = 0; i < bmp.width * bmp.height; i++) {
      data[3 * i] = bmp.data[4 * i + 3] / 255;
      data[3 * i + 1] = bmp.data[4 * i + 2] / 255;
      data[3 * i + 2] = bmp.data[4 * i + 1] / 255;
    }
    return grayIfNeutral({ data, width: bmp.width, height: bmp.height, channels: 3 });
  }
  let image;
  try {
    image = sharp(buffer);
    const meta = await image.metadata();
    const sixteen = meta.depth === 'ushort';
    const gray = (meta.channels ?? 3) - (meta.hasAlpha ? 1 : 0) === 1;
    // sharp turns raw output into sRGB unless told otherwise: keep gray files gray and 16-bit files 16-bit.
    const space = gray ? (sixteen ? 'grey16' : 'b-w') : sixteen ? 'rgb16' : 'srgb';
    const { data, info } = await image.removeAlpha().toColourspace(space).raw({ depth: sixteen ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true });
    const values = sixteen ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2) : data;
    const max = sixteen ? 65535 : 255;
    const out = Float64Array.from(values, (v) => v / max);
    if (info.channels === 1 || info.channels === 3) return grayIfNeutral({ data: out, width: info.width, height: info.height, channels: info.channels });
    throw new Error(`${info.channels} channels`);
  } catch (err) {
    throw new Error(`readImage: cannot decode '${file}': ${(err as Error).message}`);
  }
}

// RGB with R = G = B everywhere (a palette TIFF whose palette is the gray ramp, say) is a grayscale image:
// treating it as colour would map it through YCbCr's 16-235 range while true gray files keep 0-255.
function grayIfNeutral(p: Pixels): Pixels {
  if (p.channels !== 3) return p;
  const n = p.width * p.height;
  for (let i = 0; i < n; i++) if (p.data[3 * i] !== p.data[3 * i + 1] || p.data[3 * i] !== p.data[3 * i + 2]) return p;
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = p.data[3 * i];
  return { ...p, data, channels: 1 };
}

function convert(p: Pixels, mode: ImageMode): Pixels {
  if (mode === 'auto' || (p.channels === 1 && mode !== 'rgb')) return p;
  const n = p.width * p.height;
  if (p.channels === 1) {
    const data = new Float64Array(3 * n);
    for (let i = 0; i < n; i++) data[3 * i] = data[3 * i + 1] = data[3 * i + 2] = p.data[i];
    return { ...p, data, channels: 3 };
  }
  if (mode === 'rgb') return p;
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const [r, g, b] = [p.data[3 * i], p.data[3 * i + 1], p.data[3 * i + 2]];
    data[i] = mode === 'gray' ? 0.299 * r + 0.587 * g + 0.114 * b : (16 + 65.481 * r + 128.553 * g + 24.966 * b) / 255;
  }
  return { ...p, data, channels: 1 };
}

/** Reads an image file into a 1×C×H×W tensor in [-1, 1]. */
export async function readImage(file: string, opts: ReadImageOptions = {}): Promise<Tensor> {
  const mode: ImageMode = opts.grayscale ? 'gray' : opts.mode ?? 'auto';
  if (!['auto', 'rgb', 'gray', 'y'].includes(mode)) throw new RangeError(`readImage: option 'mode' must be 'auto', 'rgb', 'gray' or 'y', got '${mode}'`);
  const p = convert(await decode(file), mode);
  // interleaved H×W×C in [0, 1] → 1×C×H×W in [-1, 1]
  return scope(() => tensor(p.data, [p.height, p.width, p.channels], { dtype: 'float32' }).permute([2, 0, 1]).unsqueeze(0).mul(2).sub(1).contiguous());
}

/** Writes a 1×C×H×W (or C×H×W) tensor in [-1, 1] as an 8-bit image; the format follows the extension. */
export async function writeImage(file: string, image: Tensor): Promise<void> {
  const shape = image.shape;
  const chw = shape.length === 4 && shape[0] === 1 ? shape.slice(1) : shape;
  if (chw.length !== 3 || (chw[0] !== 1 && chw[0] !== 3)) throw new RangeError(`writeImage: expected a 1×C×H×W or C×H×W image with C = 1 or 3, got shape [${shape}]`);
  const [c, h, w] = chw;
  const bytes = scope(() => Uint8Array.from(image.reshape(chw).permute([1, 2, 0]).add(1).mul(127.5).clamp({ min: 0, max: 255 }).round().toFloat32Array()));
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
  let out = sharp(Buffer.from(bytes), { raw: { width: w, height: h, channels: c as 1 | 3 } });
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
