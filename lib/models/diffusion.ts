// Diffusion denoisers with EDM preconditioning (papers.md §4.1), on a noise-conditional U-Net or HDiT:
// Unconditional, the prior every zero-shot sampler runs on, and Palette, which also reads A⁺y (§2.6's
// degradation-blind conditional baseline). Both are Denoisers, so any sampler drives them; InvFussion
// (invfussion.ts) is the third.
import { noGrad } from '../autograd';
import { randn, tensor } from '../generated/ops';
import { Module } from '../module';
import type { Operator } from '../operators/operator';
import type { DenoiseContext, Denoiser } from '../samplers/contract';
import { checkOptions, fromHandle, native, scope, th, tu, type Tensor } from '../tensor';
import { loadModel } from './load';
import { nativeOptions } from './options';
import { shippedFile } from './shipped';

export interface DiffusionUNetOptions {
  /** 1 for grayscale (default), 3 for RGB. */
  imageChannels?: number;
  /** Width at the first level (default 32). */
  channels?: number;
  /** Width multiplier per level (default [1, 2, 2]); images must be multiples of patch · 2^(levels − 1). */
  multipliers?: number[];
  /** Resnet blocks per level on the way down (default 1; the way up has one more). */
  blocks?: number;
  /** Per level, whether each resnet is followed by self-attention (default: the last level only). */
  attention?: (boolean | number)[];
  heads?: number;
  /** Attention queries processed at once (default 1024); bounds memory on large images. */
  attentionChunk?: number;
  groups?: number;
  /** Pixel-unshuffle factor at the input (default 2): a quarter of the pixels, for CPU budgets. */
  patch?: number;
  dropout?: number;
  /** σ_data of the preconditioning (default 0.5, for images in [-1, 1]). */
  sigmaData?: number;
  /** The image side the network is built and trained for (default 64, the training crop); any multiple of sizeMultiple runs. */
  imageSize?: number;
}

/**
 * The hourglass diffusion transformer (HDiT, papers.md §4.2) that Unconditional and Palette take with
 * architecture 'hdit', and that InvFussion always is; the three differ only in how they see the measurement.
 */
export interface HDiTOptions {
  architecture?: 'hdit';
  /** 'cpu32' (default: 32×32 grayscale, widths [64, 128], depths [2, 4], NA-7 then global, head dim 32) or 'ffhq64' (the paper's). Other options override it. */
  preset?: 'cpu32' | 'ffhq64';
  imageChannels?: number;
  /** Pixels per token side at the first level (default 2). */
  patch?: number;
  /** Width per level. */
  widths?: number[];
  /** Per level: encoder layers and as many decoder layers; the last level's are the middle. */
  depths?: number[];
  /** Per level: the neighbourhood attention window (odd), or 0 for global attention. */
  kernelSizes?: number[];
  /** InvFussion: per level, whether its layers have Feature Degradation layers (default: every level whose width is a multiple of (patch·2^level)²·imageChannels). */
  featureDegradation?: (boolean | number)[];
  headDim?: number;
  /** Feed-forward width as a multiple of the level's width (default 3). */
  ffMultiple?: number;
  mappingWidth?: number;
  mappingDepth?: number;
  mappingHidden?: number;
  dropout?: number;
  sigmaData?: number;
  /** The image side the network is built and trained for (default: 32 for cpu32, 64 for ffhq64); any multiple of sizeMultiple runs. */
  imageSize?: number;
}

/** Unconditional and Palette: the EDM U-Net (default) or HDiT. */
export type DiffusionOptions = (DiffusionUNetOptions & { architecture?: 'unet' }) | HDiTOptions;

const FLAG_LISTS = ['attention', 'featureDegradation'];

/** σ at which one denoiser call gives the MMSE estimate E[x | y] (papers.md §2.7). */
export const MMSE_SIGMA = 100;

export abstract class DiffusionModel extends Module implements Denoiser {
  /** The file's metadata when loaded (training facts such as 'invdiff.trained'); empty otherwise. */
  metadata: Record<string, string> = {};

  protected constructor(kind: 'unconditional' | 'palette' | 'invfussion', owner: string, options: DiffusionOptions) {
    super(kind, nativeOptions(owner, options, FLAG_LISTS));
  }

  /** Image height and width must be multiples of this (pad them otherwise). */
  get sizeMultiple(): number {
    return this.info.sizeMultiple!;
  }
  get imageChannels(): number {
    return this.info.imageChannels!;
  }
  /** [channels, height, width] of the images the network is built and trained for (cpu32: [1, 32, 32]); the shape a sampler without an operator draws. */
  get imageShape(): [number, number, number] {
    const side = this.info.imageSize!;
    return [this.imageChannels, side, side];
  }

  /**
   * D(x; σ, context) → x̂₀ for a batch x, at one σ (number) or one per image (tensor of N values), through the
   * native model contract (an unconditional model ignores the context; Palette reads A⁺y from it). Differentiable.
   */
  denoise(x: Tensor, sigma: number | Tensor, context: DenoiseContext = {}): Tensor {
    return scope(() => fromHandle(native.modelDenoise(this.handle, th(x), th(sigmaTensor(sigma)), context.operator?.handle, tu(context.y))));
  }
  denoiseAsync(x: Tensor, sigma: number | Tensor, context: DenoiseContext = {}): Promise<Tensor> {
    const s = sigmaTensor(sigma);
    return native['modelDenoise$async'](this.handle, th(x), th(s), context.operator?.handle, tu(context.y)).then(fromHandle).finally(() => s.dispose());
  }

  /**
   * EDM2's learned log-variance u(σ) of the loss weighting λ(σ)/e^u·‖D − x‖² + u (papers.md §2.6), one
   * value per σ; HDiT networks only. Differentiable.
   */
  logVariance(sigma: Tensor): Tensor {
    return scope(() => fromHandle(native.modelLogVariance(this.handle, th(sigma.reshape([-1])))));
  }

  /**
   * The posterior mean E[x | y] in one call: D(σn, σ; A, y) at σ = 100 (papers.md §2.7). With `project`, the
   * estimate is then projected onto {x : A x = y} by an exact A⁺ (conjugate gradients where the operator's
   * A⁺ is a fast approximation): for noiseless y the true posterior mean lies in that set, so the projection
   * only removes the network's error there (README, InvFussion: +1 to +5 dB on strided blur).
   */
  mmse(A: Operator, y: Tensor, opts: MmseOptions = {}): Tensor {
    const project = checkMmse(A, opts);
    return noGrad(() => scope(() => {
      const x = this.denoise(this.mmseStart(A, y, opts.seed), MMSE_SIGMA, { operator: A, y });
      return project ? A.project(x, y, { exact: true }) : x;
    }));
  }
  async mmseAsync(A: Operator, y: Tensor, opts: MmseOptions = {}): Promise<Tensor> {
    const project = checkMmse(A, opts);
    const start = this.mmseStart(A, y, opts.seed);
    try {
      const x = await this.denoiseAsync(start, MMSE_SIGMA, { operator: A, y });
      if (!project) return x;
      try {
        return await A.projectAsync(x, y, { exact: true });
      } finally {
        x.dispose();
      }
    } finally {
      start.dispose();
    }
  }
  private mmseStart(A: Operator, y: Tensor, seed = 0): Tensor {
    const [c, h, w] = A.imageShape;
    return scope(() => randn([y.shape[0], c, h, w], { seed, dtype: this.dtype }).mul(MMSE_SIGMA));
  }
}

export interface MmseOptions {
  /** Seed of the σ = 100 start the network sees (default 0). */
  seed?: number;
  /** Project the estimate onto {x : A x = y} by an exact A⁺ (noiseless operators only; default false: the network's estimate). */
  project?: boolean;
}

/** MmseOptions.project checked for `owner` (mmse, mmseRestorer): true, false or absent. */
export function checkProject(owner: string, project: unknown): boolean {
  if (project !== undefined && typeof project !== 'boolean') throw new TypeError(`${owner}: option 'project' must be a boolean, got ${JSON.stringify(project)}`);
  return project === true;
}

// Whether to project; refuses it for noisy measurements, where it would put the noise back into A's range.
function checkMmse(A: Operator, opts: MmseOptions): boolean {
  checkOptions('mmse', opts, ['seed', 'project']);
  if (checkProject('mmse', opts.project) && A.noiseStd > 0)
    throw new RangeError(`mmse: option 'project' needs a noiseless operator (this one has noiseStd ${A.noiseStd}): projecting onto a noisy y would put its noise back`);
  return opts.project === true;
}

function sigmaTensor(sigma: number | Tensor): Tensor {
  if (typeof sigma === 'number') {
    if (!(sigma > 0) || !Number.isFinite(sigma)) throw new RangeError(`denoise: argument 'sigma' must be a positive finite number, got ${sigma}`);
    return tensor([sigma], [1]);
  }
  return sigma.reshape([-1]);
}

/** An unconditional denoiser D(x; σ): the prior of the zero-shot samplers. It ignores any operator. */
export class Unconditional extends DiffusionModel {
  constructor(options: DiffusionOptions = {}) {
    super('unconditional', 'Unconditional', options);
  }
  /**
   * A checkpoint shipped with the package: 'unet' (default; grayscale, scripts/train-diffusion.js) or 'cpu32'
   * (the HDiT prior trained beside InvFussion, 32×32 grayscale, scripts/train-invfussion.js).
   */
  static pretrained(variant: 'unet' | 'cpu32' = 'unet'): Unconditional {
    return Unconditional.load(shippedFile(variant === 'cpu32' ? 'unconditional-cpu32' : 'unconditional', 'Unconditional.pretrained'));
  }
  static load(path: string): Unconditional {
    return loadModel(path, 'unconditional', (o) => new Unconditional(o as DiffusionOptions), 'Unconditional');
  }
}

/** Palette-style conditional denoiser D(x; σ, A⁺y): sees the measurement only through A⁺y, not the operator itself. */
export class Palette extends DiffusionModel {
  constructor(options: DiffusionOptions = {}) {
    super('palette', 'Palette', options);
  }
  /** The HDiT Palette trained beside InvFussion on the same data, budget and degradations (scripts/train-invfussion.js). */
  static pretrained(): Palette {
    return Palette.load(shippedFile('palette-cpu32', 'Palette.pretrained'));
  }
  static load(path: string): Palette {
    return loadModel(path, 'palette', (o) => new Palette(o as DiffusionOptions), 'Palette');
  }
}
