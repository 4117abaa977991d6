// A model's options on their way to the native module, which checks them once (types, ranges and unknown
// keys, naming the option): here only what JSON-like values need first.
import type { ModuleOptions } from '../module';

/** The options as the native module takes them: undefined entries dropped, per-level flags as 0/1 lists. */
export function nativeOptions(owner: string, options: object, flagLists: readonly string[] = []): ModuleOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new TypeError(`${owner}: argument 'options' expected an object`);
  const out: ModuleOptions = {};
  for (const [key, v] of Object.entries(options)) {
    if (v === undefined) continue;
    if (flagLists.includes(key)) {
      if (!Array.isArray(v)) throw new TypeError(`${owner}: option '${key}' must be an array of per-level flags`);
      out[key] = v.map((a) => (a ? 1 : 0));
    } else {
      out[key] = v as ModuleOptions[string];
    }
  }
  return out;
}
