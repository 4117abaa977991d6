// The names of the models shipped in the package and where their files are (a leaf, so each model class
// can find its own shipped file).
import * as fs from 'fs';
import * as path from 'path';
import { didYouMean } from '../suggest';

/** Every shipped name and how it is made; a name whose file is missing is listed as not available. */
export const SHIPPED = {
  'idm-cs10': 'IDM, scrambled block CS 10% (npm run train:idm)',
  'idm-cs30': 'IDM, scrambled block CS 30% (npm run train:idm)',
  'idm-cs50': 'IDM, scrambled block CS 50% (npm run train:idm)',
  unconditional: 'the unconditional prior of the zero-shot samplers (npm run train:diffusion)',
  palette: 'the Palette-style conditional baseline (not shipped yet: invdiff train palette makes one)',
} as const;
export type ShippedName = keyof typeof SHIPPED;

export const SHIPPED_DIR = path.resolve(__dirname, '..', '..', 'models');

export const isShippedName = (name: string): name is ShippedName => Object.prototype.hasOwnProperty.call(SHIPPED, name);

/** The file of a shipped model, or an error naming the shipped ones (and the nearest, for a typo). */
export function shippedFile(name: string, owner = 'models.pretrained'): string {
  if (!isShippedName(name)) throw new RangeError(`${owner}: '${name}' is not a shipped model${didYouMean(name, Object.keys(SHIPPED))}; the shipped ones are ${Object.keys(SHIPPED).join(', ')}`);
  const file = path.join(SHIPPED_DIR, `${name}.safetensors`);
  if (!fs.existsSync(file)) throw new Error(`${owner}: '${name}' is not available in this installation (${SHIPPED[name]}); '${file}' is missing`);
  return file;
}

