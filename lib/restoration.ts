// Restoring whole images with any method: an IDM, a sampler on a diffusion denoiser (zero-shot on an
// Unconditional model, posterior sampling on a Palette), or a one-step MMSE. Images are measured one at a
// time with a fresh operator instance (image i with seed + i), padded to the method's size multiple.
import { noGrad } from './autograd';
import { cat, Dtype } from './generated/ops';
import type { DiffusionModel } from './models/diffusion';
import { padToMultiple } from './models/padding';
import { fromSpec, Operator, OperatorSpec } from './operators/operator';
import * as samplers from './samplers';
import type { SamplerOptions } from './samplers/driver';
import { keep, scope, scopeAsync, type Tensor } from './tensor';

export interface Restorer {
  /** How tables and reports name it, e.g. 'IDM (T = 3)' or 'DDNM, 100 steps'. */
  readonly label: string;
  /** Image height and width must be multiples of this; restoreImages pads. */
  readonly sizeMultiple: number;
  /** x̂ for y = A x, given the padded image's operator. */
  restore(A: Operator, y: Tensor, seed: number): Tensor;
  /** The same off the event loop. */
  restoreAsync(A: Operator, y: Tensor, seed: number): Promise<Tensor>;
  /** The dtype the method computes in (default float32). */
  readonly dtype?: Dtype;
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
  const parts = new Parts(images);
  noGrad(() => {
    for (let i = 0; i < images.shape[0]; i++) scope(() => parts.restore(method, operator, i, opts.seed ?? 0, (A, y, seed) => method.restore(A, y, seed)));
  });
  return parts.join();
}

/** restoreImages with each restoration off the event loop. */
export async function restoreImagesAsync(method: Restorer, images: Tensor, operator: OperatorSpec, opts: { seed?: number } = {}): Promise<Restored> {
  const parts = new Parts(images);
  for (let i = 0; i < images.shape[0]; i++) await scopeAsync(async () => noGrad(() => parts.restore(method, operator, i, opts.seed ?? 0, (A, y, seed) => method.restoreAsync(A, y, seed))));
  return parts.join();
}

// What both share per image: pad, measure with a fresh operator, time the restoration, crop; then join.
class Parts {
  private readonly restored: Tensor[] = [];
  private readonly baseline: Tensor[] = [];
  private seconds = 0;
  constructor(private readonly images: Tensor) {
    if (images.ndim !== 4) throw new RangeError(`restoreImages: 'images' must be N×C×H×W, got [${images.shape}]`);
  }
  restore(method: Restorer, spec: OperatorSpec, i: number, seed: number, run: (A: Operator, y: Tensor, seed: number) => Tensor | Promise<Tensor>): void | Promise<void> {
    const { padded, crop } = padToMultiple(this.images.narrow(0, i, 1), method.sizeMultiple);
    const x = padded.to({ dtype: method.dtype ?? 'float32' });
    const A = fromSpec(spec, x.shape.slice(1), { seed: seed + i });
    let out: Tensor | Promise<Tensor>;
    let started = 0;
    const done = (t: Tensor) => {
      this.seconds += (performance.now() - started) / 1000;
      this.restored.push(keep(crop(t)));
      t.dispose(); // samplers hand over kept results; the crop holds what is needed
    };
    try {
      const y = A.measure(x, { seed: seed + i }); // A x plus the spec's noise, if any
      this.baseline.push(keep(crop(A.pinv(y))));
      started = performance.now();
      out = run(A, y, seed + i);
    } catch (e) {
      A.dispose();
      throw e;
    }
    if (out instanceof Promise) return out.then(done).finally(() => A.dispose());
    A.dispose();
    done(out);
  }
  join(): Restored {
    const joined = { restored: cat(this.restored, { dim: 0 }), baseline: cat(this.baseline, { dim: 0 }), seconds: this.seconds };
    for (const t of [...this.restored, ...this.baseline]) t.dispose();
    return joined;
  }
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
  const sampleAsync = samplers[`${name}Async`] as (d: DiffusionModel, o: SamplerOptions) => Promise<{ images: Tensor }>;
  return {
    label: `${DISPLAY[name]}${options.steps ? `, ${options.steps} steps` : ''}`,
    sizeMultiple: model.sizeMultiple,
    dtype: model.dtype,
    restore: (A, y, seed) => sample(model, { ...options, operator: A, y, seed }).images,
    restoreAsync: async (A, y, seed) => (await sampleAsync(model, { ...options, operator: A, y, seed })).images,
  };
}

/** A conditional diffusion model's one-step posterior mean, D(σn, σ; A, y) at σ = 100. */
export function mmseRestorer(model: DiffusionModel): Restorer {
  return {
    label: 'MMSE (1 step)',
    sizeMultiple: model.sizeMultiple,
    dtype: model.dtype,
    restore: (A, y, seed) => model.mmse(A, y, { seed }),
    restoreAsync: (A, y, seed) => model.mmseAsync(A, y, { seed }),
  };
}
