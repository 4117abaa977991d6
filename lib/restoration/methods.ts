// The restoration methods behind one interface: an IDM (its unrolled chain), a sampler on a diffusion
// denoiser (zero-shot on an Unconditional prior, posterior sampling on a Palette), or a one-step MMSE.
import type { Dtype } from '../generated/ops';
import { checkProject, type DiffusionModel } from '../models/diffusion';
import type { IDM } from '../models/idm';
import { trainedFor } from '../models/card';
import type { Operator, OperatorSpec } from '../operators/operator';
import * as samplers from '../samplers';
import { SAMPLER_OWN_OPTIONS, type SamplerOptions } from '../samplers';
import { checkOptions, type Tensor } from '../tensor';

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
  /** Channels of the images its model restores (a grey model restores colour ones channel by channel). */
  readonly imageChannels?: number;
  /** The degradations its model was trained on (model card); restoring others warns. Empty or absent: any. */
  readonly trainedFor?: OperatorSpec[];
}

/** An IDM is its own method: its T-step chain reconstructs from (A, y) with no randomness. */
export function idmRestorer(idm: IDM): Restorer {
  // Getters, so a model moved to another dtype after wrapping is restored in that dtype.
  return {
    get label() {
      return `IDM (T = ${idm.steps})`;
    },
    get sizeMultiple() {
      return idm.sizeMultiple;
    },
    get dtype() {
      return idm.dtype;
    },
    get trainedFor() {
      return trainedFor(idm.metadata);
    },
    get imageChannels() {
      return idm.info.imageChannels;
    },
    restore: (A, y) => idm.reconstruct(A, y),
    restoreAsync: (A, y) => idm.reconstructAsync(A, y),
  };
}

export const SAMPLER_NAMES = ['heun', 'euler', 'ddim', 'ddnm', 'ddrm', 'dps', 'pigdm', 'daps'] as const;
export type SamplerName = (typeof SAMPLER_NAMES)[number];
export const isSamplerName = (name: string): name is SamplerName => (SAMPLER_NAMES as readonly string[]).includes(name);
/** What samplerRestorer passes to every sampler call, besides the sampler's own options. */
const SAMPLER_KEYS = ['shape', 'sigmas', 'steps', 'sigmaMin', 'sigmaMax', 'rho', 'onStep', 'signal'];
const DISPLAY: Record<SamplerName, string> = { heun: 'Heun', euler: 'Euler', ddim: 'DDIM', ddnm: 'DDNM', ddrm: 'DDRM', dps: 'DPS', pigdm: 'ΠGDM', daps: 'DAPS' };

/**
 * A sampler on a diffusion model as a restoration method: the zero-shot solvers on an Unconditional prior,
 * or any sampler on a Palette (which reads A⁺y itself). Extra options (eta, zeta, …) pass through.
 */
export function samplerRestorer(name: SamplerName, model: DiffusionModel, options: Omit<SamplerOptions, 'operator' | 'y' | 'seed'> = {}): Restorer {
  if (!isSamplerName(name)) throw new RangeError(`samplerRestorer: 'name' must be one of ${SAMPLER_NAMES.join(', ')}, got '${name}'`);
  // Checked now, not at the first image: the operator, y and seed come per image.
  checkOptions(`samplerRestorer(${name})`, options, [...SAMPLER_KEYS, ...SAMPLER_OWN_OPTIONS[name]]);
  const sample = samplers[name] as (d: DiffusionModel, o: SamplerOptions) => { images: Tensor };
  const sampleAsync = samplers[`${name}Async`] as (d: DiffusionModel, o: SamplerOptions) => Promise<{ images: Tensor }>;
  return {
    label: `${DISPLAY[name]}${options.steps ? `, ${options.steps} steps` : ''}`,
    sizeMultiple: model.sizeMultiple,
    dtype: model.dtype,
    trainedFor: conditionedOn(model),
    imageChannels: model.imageChannels,
    restore: (A, y, seed) => sample(model, { ...options, operator: A, y, seed }).images,
    restoreAsync: async (A, y, seed) => (await sampleAsync(model, { ...options, operator: A, y, seed })).images,
  };
}

/**
 * A conditional diffusion model's one-step posterior mean, D(σn, σ; A, y) at σ = 100; `project`: then
 * projected onto {x : A x = y} (see DiffusionModel.mmse; noiseless operators only).
 */
export function mmseRestorer(model: DiffusionModel, options: { project?: boolean } = {}): Restorer {
  const project = checkProject('mmseRestorer', checkOptions('mmseRestorer', options, ['project']).project);
  return {
    label: project ? 'MMSE (1 step) + projection' : 'MMSE (1 step)',
    sizeMultiple: model.sizeMultiple,
    dtype: model.dtype,
    trainedFor: conditionedOn(model),
    imageChannels: model.imageChannels,
    restore: (A, y, seed) => model.mmse(A, y, { seed, project }),
    restoreAsync: (A, y, seed) => model.mmseAsync(A, y, { seed, project }),
  };
}

// A conditional model knows only the degradations it was trained on; an unconditional prior suits any operator.
const conditionedOn = (model: DiffusionModel) => (model.kind === 'unconditional' ? [] : trainedFor(model.metadata));
