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
  'idm-prior-cs10': 'IDM fine-tuned from the shipped prior, scrambled block CS 10% (npm run train:idm; in a clone, not in the npm package)',
  'idm-prior-cs30': 'IDM fine-tuned from the shipped prior, scrambled block CS 30% (npm run train:idm; in a clone only)',
  'idm-prior-cs50': 'IDM fine-tuned from the shipped prior, scrambled block CS 50% (npm run train:idm; in a clone only)',
  'idm-prior-inpaint90': 'IDM fine-tuned from the shipped prior, 90% random-pixel inpainting (npm run train:idm -- --task inpainting; in a clone only)',
  unconditional: 'the unconditional prior of the zero-shot samplers (npm run train:diffusion)',
  'invfussion-cpu32': 'InvFussion, 32×32 grayscale, one model for many operators (npm run train:invfussion; in a clone, not in the npm package)',
  'palette-cpu32': 'the HDiT Palette baseline trained beside InvFussion (npm run train:invfussion; in a clone only)',
  'unconditional-cpu32': 'the HDiT prior trained beside InvFussion, for the zero-shot samplers (npm run train:invfussion; in a clone only)',
} as const;
export type ShippedName = keyof typeof SHIPPED;

export const SHIPPED_DIR = path.resolve(__dirname, '..', '..', 'models');

/** Short names for shipped models, usable wherever their own names are. */
export const SHIPPED_ALIASES = { palette: 'palette-cpu32', invfussion: 'invfussion-cpu32' } as const satisfies Record<string, ShippedName>;

const canonical = (name: string): string => (SHIPPED_ALIASES as Record<string, string>)[name] ?? name;

/** Where a shipped model's file is (present or not). */
export function shippedPath(name: ShippedName): string {
  return path.join(SHIPPED_DIR, `${name}.safetensors`);
}

/** Whether `name` is a shipped name or one of its aliases. */
export const isShippedName = (name: string): boolean => Object.prototype.hasOwnProperty.call(SHIPPED, canonical(name));

/** The file of a shipped model, or an error naming the shipped ones (and the nearest, for a typo). */
export function shippedFile(name: string, owner = 'models.pretrained'): string {
  const names = [...Object.keys(SHIPPED), ...Object.keys(SHIPPED_ALIASES)];
  if (!isShippedName(name)) throw new RangeError(`${owner}: '${name}' is not a shipped model${didYouMean(name, names)}; the shipped ones are ${names.join(', ')}`);
  const own = canonical(name) as ShippedName;
  const file = shippedPath(own);
  if (!fs.existsSync(file)) throw new Error(`${owner}: '${name}' is not available in this installation (${SHIPPED[own]}); '${file}' is missing`);
  return file;
}

