// The files commands read: images (one file or a folder, in the --mode asked for) and models (a file or
// a shipped model's name).
import * as fs from 'fs';
import * as path from 'path';
import { ImageMode, readImage, readImageFolder } from '../io/image';
import { load, AnyModel } from '../models/any';
import { isShippedName, SHIPPED, shippedFile } from '../models/shipped';
import type { NamedImage } from '../restoration/evaluate';
import { didYouMean } from '../suggest';
import { Options, UsageError, Values } from './args';

export const MODE_OPTIONS: Options = { mode: { type: 'string' } };
export const MODE_HELP = `  --mode M           how images are read: auto (default: colour images in colour, grey ones grey), rgb, gray,
                     or y (the CS papers' YCbCr luma); a grey model restores colour images channel by channel`;
const MODES: ImageMode[] = ['auto', 'rgb', 'gray', 'y'];

export function imageMode(values: Values): ImageMode {
  const mode = (values.mode ?? 'auto') as ImageMode;
  if (!MODES.includes(mode)) throw new UsageError(`--mode must be one of ${MODES.join(', ')}, got '${mode}'${didYouMean(String(mode), MODES)}`);
  return mode;
}

/** Images from a file or a folder, with their names. */
export async function inputs(where: string, mode: ImageMode, flag = '--input'): Promise<NamedImage[]> {
  if (!fs.existsSync(where)) throw new UsageError(`${flag} '${where}' does not exist`);
  if (fs.statSync(where).isDirectory()) {
    const list = await readImageFolder(where, { mode }).catch((e: Error) => {
      throw /no images/.test(e.message) ? new UsageError(`${flag}: no images in '${where}'`) : e;
    });
    return list;
  }
  return [{ name: path.basename(where), image: await readImage(where, { mode }) }];
}

/** A model from a file or a shipped name (idm-cs10, unconditional, …). */
export function loadModel(fileOrName: string | undefined, flag = '--model'): AnyModel {
  if (!fileOrName)
    throw new UsageError(`${flag} FILE|NAME is required (a model .safetensors, or a shipped model: ${Object.keys(SHIPPED).join(', ')}; invdiff models lists them)`);
  if (fs.existsSync(fileOrName)) return load(fileOrName);
  if (isShippedName(fileOrName)) return load(shippedFile(fileOrName, flag));
  throw new UsageError(`${flag} '${fileOrName}' is neither a file nor a shipped model${didYouMean(fileOrName, Object.keys(SHIPPED))} (shipped: ${Object.keys(SHIPPED).join(', ')})`);
}
