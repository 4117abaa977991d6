// Restoring whole images with any method: an IDM, a sampler on a diffusion denoiser (zero-shot on an
// Unconditional model, posterior sampling on a Palette), or a one-step MMSE. Images are measured one at a
// time with a fresh operator instance (image i with seed + i), padded to the method's size multiple.
import { noGrad } from './autograd';
import { cat } from './generated/ops';
import type { DiffusionModel } from './models/diffusion';
import { padToMultiple } from './models/padding';
import { fromSpec, Operator, OperatorSpec } from './operators/operator';
import * as samplers from './samplers';
import type { SamplerOptions } from './samplers/driver';
import { keep, scope } from './scope';
import type { Tensor } from './tensor';

export interface Restorer {
  /** How tables and reports name it, e.g. 'IDM (T = 3)' or 'DDNM, 100 steps'. */
  readonly label: string;
  /** Image height and width must be multiples of this; restoreImages pads. */
  readonly sizeMultiple: number;
  /** x̂ for y = A x, given the padded image's operator. */
  restore(A: Operator, y: Tensor, seed: number): Tensor;
  /** The dtype the method computes in (default float32). */
  readonly dtype?: 'float32' | 'float64';
}

export interface Restored {
  restored: Tensor;
  /** A⁺y, the baseline every method is compared with. */
  baseline: Tensor;
  /** Seconds spent in the method itself (measuring and A⁺y excluded). */
  seconds: number;
}

/** Measures each image (with noise if the spec sets noiseStd) and restores it; returns N×C×H×W results. */
export function restoreImages(method: Restorer, images: Tensor, operator: OperatorSpec, opts: { seed?: number } = {}): Restored {
  if (images.ndim !== 4) throw new RangeError(`restoreImages: 'images' must be N×C×H×W, got [${images.shape}]`);
  const seed = opts.seed ?? 0;
  let seconds = 0;
  const restored: Tensor[] = [];
  const baseline: Tensor[] = [];
  noGrad(() => {
    for (let i = 0; i < images.shape[0]; i++)
      scope(() => {
        const { padded, crop } = padToMultiple(images.narrow(0, i, 1), method.sizeMultiple);
        const x = padded.to({ dtype: method.dtype ?? 'float32' });
        const A = fromSpec(operator, x.shape.slice(1), { seed: seed + i });
        try {
          const y = A.noiseStd > 0 ? A.measure(x, { seed: seed + i }) : A.forward(x);
          const started = performance.now();
          restored.push(keep(crop(method.restore(A, y, seed + i))));
          seconds += (performance.now() - started) / 1000;
          baseline.push(keep(crop(A.pinv(y))));
        } finally {
          A.dispose();
        }
      });
  });
  const joined = { restored: cat(restored, { dim: 0 }), baseline: cat(baseline, { dim: 0 }), seconds };
  for (const t of [...restored, ...baseline]) t.dispose();
  return joined;
}

export const SAMPLER_NAMES = ['heun', 'euler', 'ddim', 'ddnm', 'ddrm', 'dps', 'pigdm', 'daps'] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];
const DISPLAY: Record<SamplerName, string> = { heun: 'Heun', euler: 'Euler', ddim: 'DDIM', ddnm: 'DDNM', ddrm: 'DDRM', dps: 'DPS', pigdm: 'ΠGDM', daps: 'DAPS' };

/**
 * A sampler on a diffusion model as a restoration method: the zero-shot solvers on an Unconditional prior,
 * or any sampler on a Palette (which reads A⁺y itself). Extra options (eta, zeta, …) pass through.
 */
export function samplerRestorer(name: SamplerName, model: DiffusionModel, options: Omit<SamplerOptions, 'operator' | 'y' | 'seed'> = {}): Restorer {
  if (!SAMPLER_NAMES.includes(name)) throw new RangeError(`samplerRestorer: 'name' must be one of ${SAMPLER_NAMES.join(', ')}, got '${name}'`);
  const sample = samplers[name] as (d: DiffusionModel, o: SamplerOptions) => { images: Tensor };
  return {
    label: `${DISPLAY[name]}${options.steps ? `, ${options.steps} steps` : ''}`,
    sizeMultiple: model.sizeMultiple,
    dtype: model.parameters()[0].dtype as 'float32' | 'float64',
    restore: (A, y, seed) => sample(model, { ...options, operator: A, y, seed }).images,
  };
}

/** A conditional diffusion model's one-step posterior mean, D(σn, σ; A, y) at σ = 100. */
export function mmseRestorer(model: DiffusionModel): Restorer {
  return {
    label: 'MMSE (1 step)',
    sizeMultiple: model.sizeMultiple,
    dtype: model.parameters()[0].dtype as 'float32' | 'float64',
    restore: (A, y, seed) => model.mmse(A, y, { seed }),
  };
}
