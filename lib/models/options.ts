// Checking a model's options before they reach the native module, so mistakes name the option in JS terms.
import type { ModuleOptions } from '../module';

export interface OptionSpec {
  numbers?: readonly string[];
  integerLists?: readonly string[];
  /** Per-level booleans, passed on as 0/1 lists. */
  flagLists?: readonly string[];
  booleans?: readonly string[];
  /** String options and their allowed values. */
  choices?: Record<string, readonly string[]>;
}

/** The options as the native module takes them; throws on unknown keys and wrong types. */
export function nativeOptions(owner: string, options: object, spec: OptionSpec): ModuleOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${owner}: argument 'options' expected an object`);
  const { numbers = [], integerLists = [], flagLists = [], booleans = [], choices = {} } = spec;
  const known = [...numbers, ...integerLists, ...flagLists, ...booleans, ...Object.keys(choices)];
  const out: ModuleOptions = {};
  for (const [key, v] of Object.entries(options)) {
    if (v === undefined) continue;
    if (numbers.includes(key)) {
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`${owner}: option '${key}' must be a number, got ${JSON.stringify(v)}`);
      out[key] = v;
    } else if (integerLists.includes(key)) {
      if (!Array.isArray(v) || !v.every(Number.isInteger)) throw new TypeError(`${owner}: option '${key}' must be an array of integers`);
      out[key] = v;
    } else if (flagLists.includes(key)) {
      if (!Array.isArray(v)) throw new TypeError(`${owner}: option '${key}' must be an array of per-level flags`);
      out[key] = v.map((a) => (a ? 1 : 0));
    } else if (booleans.includes(key)) {
      if (typeof v !== 'boolean') throw new TypeError(`${owner}: option '${key}' must be a boolean`);
      out[key] = v;
    } else if (key in choices) {
      if (!choices[key].includes(v)) throw new TypeError(`${owner}: option '${key}' must be ${choices[key].map((c) => `'${c}'`).join(' or ')}, got ${JSON.stringify(v)}`);
      out[key] = v;
    } else {
      throw new TypeError(`${owner}: unknown option '${key}' (expected one of ${known.join(', ')})`);
    }
  }
  return out;
}
