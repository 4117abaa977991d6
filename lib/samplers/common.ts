// What every sampler shares: option checks, the image shape, seeded noise per step, and a holder for the
// tensors a program keeps across yields (freed on return, error or cancel).
import { gaussianNoise } from '../generated/ops';
import type { Operator } from '../operators/operator';
import { keep, type Tensor } from '../tensor';
import type { SamplerOptions } from './driver';
import { edmSigmas } from './schedule';

export interface Resolved extends SamplerOptions {
  shape: number[];
  steps: number;
  seed: number;
  sigmas: number[];
}

export function resolve(name: string, options: SamplerOptions, defaultSteps: number): Resolved {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${name}: argument 'options' expected an options object`);
  const steps = options.steps ?? defaultSteps;
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed) || seed < 0) throw new RangeError(`${name}: option 'seed' must be a non-negative integer, got ${seed}`);
  let shape = options.shape;
  const { operator, y } = options;
  if (y && !operator) throw new TypeError(`${name}: option 'y' needs an 'operator'`);
  if (operator) {
    if (!y) throw new TypeError(`${name}: option 'operator' needs the measurement 'y'`);
    const expected = operator.measurementShape.join(',');
    if (y.shape.slice(1).join(',') !== expected) {
      throw new RangeError(`${name}: option 'y' has shape [${y.shape}], but the ${operator.family} operator measures [N, ${operator.measurementShape}]`);
    }
    shape = shape ?? [y.shape[0], ...operator.imageShape];
  }
  if (!shape || shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new TypeError(`${name}: option 'shape' must be N×C×H×W (or give an operator and y), got ${JSON.stringify(shape)}`);
  }
  const sigmas = edmSigmas({ steps, sigmaMin: options.sigmaMin, sigmaMax: options.sigmaMax, rho: options.rho });
  return { ...options, shape, steps, seed, sigmas };
}

/** The operator and measurement a zero-shot solver needs, or an error naming the sampler. */
export function measurement(name: string, r: Resolved): { A: Operator; y: Tensor } {
  if (!r.operator || !r.y) throw new TypeError(`${name}: options 'operator' and 'y' are required`);
  return { A: r.operator, y: r.y };
}

/** The key of draw i: the same seed reproduces every draw. */
export function noiseSeed(r: Resolved, i: number): number {
  return r.seed * 100003 + i;
}

/** std · z for draw i, z ~ N(0, I) from the counter-based generator (as the fused steps' noise). */
export function noise(r: Resolved, i: number, std = 1): Tensor {
  return gaussianNoise(r.shape, { seed: noiseSeed(r, i), std });
}

/** Tensors a sampler program keeps across yields. */
export class Held {
  private readonly tensors = new Set<Tensor>();
  take<T extends Tensor>(t: T): T {
    this.tensors.add(keep(t));
    return t;
  }
  drop(t: Tensor): void {
    if (this.tensors.delete(t)) t.dispose();
  }
  /** Drops old and takes next. */
  replace<T extends Tensor>(old: Tensor, next: T): T {
    this.drop(old);
    return this.take(next);
  }
  /** Hands t to the caller: no longer freed by disposeAll. */
  release<T extends Tensor>(t: T): T {
    this.tensors.delete(t);
    return t;
  }
  disposeAll(): void {
    for (const t of this.tensors) t.dispose();
    this.tensors.clear();
  }
}
