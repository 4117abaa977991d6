// The check every options argument gets before it reaches the binding.
import { didYouMean } from '../suggest';

/** Rejects an options argument that is not an object, or that names an option the op does not take. */
export function checkOptions<T>(op: string, opts: T, allowed: string[]): T {
  if (opts === undefined) return {} as T;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new TypeError(`${op}: argument 'opts' expected an options object { ${allowed.join(', ')} }, got ${opts === null ? 'null' : Array.isArray(opts) ? 'an array' : typeof opts + ' ' + String(opts)}`);
  }
  for (const key of Object.keys(opts as object)) {
    if (!allowed.includes(key)) throw new TypeError(`${op}: unknown option '${key}'${didYouMean(key, allowed)}; it takes ${allowed.join(', ')}`);
  }
  return opts;
}
