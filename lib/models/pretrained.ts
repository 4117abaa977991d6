// The models shipped in the package, by name: usable wherever a model file is (inv.models.pretrained(name),
// invdiff --model NAME), listed with their cards (inv.models.list(), invdiff models).
import * as fs from 'fs';
import * as path from 'path';
import { load, type AnyModel } from './any';
import { describe, type Description } from './card';
import { isShippedName, SHIPPED, shippedFile, shippedPath, type ShippedName } from './shipped';

/** A shipped model as its own class (IDM, Unconditional, …). */
export function pretrained(name: ShippedName | string): AnyModel {
  return load(shippedFile(name));
}

/** A path, or a shipped model's file when `fileOrName` is a shipped name and no such path exists. */
export function modelFile(fileOrName: string): string {
  return !fs.existsSync(fileOrName) && isShippedName(fileOrName) ? shippedFile(fileOrName) : fileOrName;
}

export interface Listed {
  name: ShippedName;
  summary: string;
  available: boolean;
  card?: Description;
}

/** Every shipped name, with its card when its file is there. */
export function list(): Listed[] {
  return (Object.keys(SHIPPED) as ShippedName[]).map((name) => {
    const file = shippedPath(name);
    const available = fs.existsSync(file);
    return { name, summary: SHIPPED[name], available, ...(available ? { card: describe(file) } : {}) };
  });
}
