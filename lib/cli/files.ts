// The files commands read: images (one file or a folder) and saved models.
import * as fs from 'fs';
import * as path from 'path';
import { readImage, readImageFolder } from '../io/image';
import { load, AnyModel } from '../models/any';
import type { NamedImage } from '../restoration/evaluate';
import { UsageError } from './args';

/** Images from a file or a folder (Y channel, as the CS papers use), with their names. */
export async function inputs(where: string): Promise<NamedImage[]> {
  if (!fs.existsSync(where)) throw new UsageError(`input '${where}' does not exist`);
  if (fs.statSync(where).isDirectory()) {
    const list = await readImageFolder(where, { mode: 'y' });
    if (!list.length) throw new UsageError(`no images in '${where}'`);
    return list;
  }
  return [{ name: path.basename(where), image: await readImage(where, { mode: 'y' }) }];
}

export function loadModel(file: string | undefined): AnyModel {
  if (!file) throw new UsageError('--model FILE is required (a model .safetensors, e.g. models/idm-cs10.safetensors or models/unconditional.safetensors)');
  if (!fs.existsSync(file)) throw new UsageError(`--model '${file}' does not exist`);
  return load(file);
}
