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
  'invfussion-cpu32': 'InvFussion, 32×32 grayscale, one model for many operators (npm run train:invfussion; in a clone, not in the npm package)',
  'palette-cpu32': 'the HDiT Palette baseline trained beside InvFussion (npm run train:invfussion; in a clone only)',
  'unconditional-cpu32': 'the HDiT prior trained beside InvFussion, for the zero-shot samplers (npm run train:invfussion; in a clone only)',
  palette: "the Palette-style conditional baseline: the same file as 'palette-cpu32'",
  invfussion: "InvFussion: the same file as 'invfussion-cpu32'",
} as const;
export type ShippedName = keyof typeof SHIPPED;

export const SHIPPED_DIR = path.resolve(__dirname, '..', '..', 'models');

// Names that stand for another's file.
const SAME_FILE: Partial<Record<keyof typeof SHIPPED, keyof typeof SHIPPED>> = { palette: 'palette-cpu32', invfussion: 'invfussion-cpu32' };

/** Where a shipped model's file is (present or not). */
export function shippedPath(name: ShippedName): string {
  return path.join(SHIPPED_DIR, `${SAME_FILE[name] ?? name}.safetensors`);
}

export const isShippedName = (name: string): name is ShippedName => Object.prototype.hasOwnProperty.call(SHIPPED, name);

/** The file of a shipped model, or an error naming the shipped ones (and the nearest, for a typo). */
export function shippedFile(name: string, owner = 'models.pretrained'): string {
  if (!isShippedName(name)) throw new RangeError(`${owner}: '${name}' is not a shipped model${didYouMean(name, Object.keys(SHIPPED))}; the shipped ones are ${Object.keys(SHIPPED).join(', ')}`);
  const file = shippedPath(name);
  if (!fs.existsSync(file)) throw new Error(`${owner}: '${name}' is not available in this installation (${SHIPPED[name]}); '${file}' is missing`);
  return file;
}

