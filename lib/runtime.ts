// What generated code needs at run time: the addon, handle-to-Tensor wrapping, option checks.
import type { Tensor } from './tensor';
import { track } from './scope';
export { nativeAddon } from './native';

let TensorClass: new (h: number) => Tensor;

/** Called once by lib/tensor.ts, which defines the class generated methods return. */
export function setTensorClass(cls: new (h: number) => Tensor): void {
  TensorClass = cls;
}

export function fromHandle(h: number | null): Tensor {
  // tensor.ts registers the class when loaded; load it here for code that never imports it directly.
  if (!TensorClass) require('./tensor');
  return (h === null ? null : track(new TensorClass(h))) as Tensor;
}

/** Rejects an options argument that is not an object, or that names an option the op does not take. */
export function checkOptions<T>(op: string, opts: T, allowed: string[]): T {
  if (opts === undefined) return {} as T;
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new TypeError(`${op}: argument 'opts' expected an options object { ${allowed.join(', ')} }, got ${opts === null ? 'null' : Array.isArray(opts) ? 'an array' : typeof opts + ' ' + String(opts)}`);
  }
  for (const key of Object.keys(opts as object)) {
    if (!allowed.includes(key)) throw new TypeError(`${op}: unknown option '${key}'; it takes ${allowed.join(', ')}`);
  }
  return opts;
}
