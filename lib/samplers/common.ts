// What every sampler shares: option checks, the image shape, the σ schedule and seeded noise per step.
import { gaussianNoise } from '../generated/ops';
import type { Operator } from '../operators/operator';
import { checkOptions, type Tensor } from '../tensor';
import type { SamplerOptions } from './contract';
import { edmSigmas } from './schedule';

export interface Resolved extends SamplerOptions {
  shape: number[];
  steps: number;
  seed: number;
  sigmas: number[];
}

/** The options every sampler takes; each sampler adds its own (ddnm: eta, mixing; …). */
export const COMMON_OPTIONS = ['operator', 'y', 'shape', 'sigmas', 'steps', 'seed', 'sigmaMin', 'sigmaMax', 'rho', 'onStep', 'signal'] as const;

export function resolve(name: string, options: SamplerOptions, defaultSteps: number, own: readonly string[] = []): Resolved {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${name}: argument 'options' expected an options object`);
  checkOptions(name, options, [...COMMON_OPTIONS, ...own]);
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
  const { sigmaMin, sigmaMax, rho } = options;
  const sigmas = options.sigmas === undefined ? edmSigmas({ steps: options.steps ?? defaultSteps, sigmaMin, sigmaMax, rho }) : givenSigmas(name, options);
  return { ...options, shape, steps: sigmas.length - 1, seed, sigmas };
}

// An explicit schedule σ_0 > … > σ_{N−1} > σ_N = 0 (contract.ts), which the EDM schedule's options would contradict.
function givenSigmas(name: string, options: SamplerOptions): number[] {
  const { sigmas, steps } = options;
  if (!Array.isArray(sigmas)) throw new TypeError(`${name}: option 'sigmas' must be an array of numbers, got ${typeof sigmas}`);
  const n = sigmas.length - 1;
  // Strictly decreasing to a final 0 makes every earlier σ positive, as the steps' divisions by σ_i need.
  const decreasing = sigmas.every((s, i) => typeof s === 'number' && Number.isFinite(s) && (i === 0 || s < sigmas[i - 1]));
  if (n < 1 || !decreasing || sigmas[n] !== 0) {
    throw new RangeError(`${name}: option 'sigmas' must be positive, strictly decreasing and end in 0 (at least 2 numbers, as edmSigmas returns), got [${sigmas.join(', ')}]`);
  }
  if (steps !== undefined && steps !== n) throw new RangeError(`${name}: option 'steps' (${steps}) conflicts with option 'sigmas' (${n + 1} numbers: ${n} steps)`);
  const shaping = (['sigmaMin', 'sigmaMax', 'rho'] as const).filter((k) => options[k] !== undefined);
  if (shaping.length) throw new RangeError(`${name}: option 'sigmas' replaces the EDM schedule; drop ${shaping.map((k) => `'${k}'`).join(' and ')}`);
  return sigmas.slice();
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
