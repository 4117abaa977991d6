// trainDiffusion: EDM denoising score matching (papers.md §4.1) for the Unconditional and Palette models.
// ln σ ~ N(pMean, pStd²), x_σ = x + σn, loss λ(σ)·‖D(x_σ; σ) − x‖² with λ = (σ² + σ_d²)/(σσ_d)², which makes
// the loss on the network's own output unit-weighted. Palette sees A⁺y of a degradation drawn per batch.
import type { ImageDataset } from '../data/dataset';
import { mulberry32 } from '../data/dead-leaves';
import { randn } from '../generated/ops';
import { psnr } from '../metrics/psnr';
import { DiffusionModel, Palette } from '../models/diffusion';
import { padToMultiple } from '../models/padding';
import { fromSpec, OperatorSpec } from '../operators';
import { scope, type Tensor } from '../tensor';
import type { LoopOptions } from './idm';
import { evaluating, runWithAdam, TrainingResult } from './runner';

export interface TrainDiffusionOptions extends LoopOptions {
  model: DiffusionModel;
  data: ImageDataset;
  /** Palette only: the degradations to train on, one drawn uniformly per batch (a fresh instance each time). */
  degradations?: OperatorSpec[];
  /** Adam learning rate (default 2e-4, β = (0.9, 0.99) as in §2.6), multiplied by gamma at each milestone. */
  lr?: number;
  /** Mean and standard deviation of ln σ during training (default −1.2 and 1.2, EDM's). */
  pMean?: number;
  pStd?: number;
  seed?: number;
  /**
   * Held-out images (N×C×H×W, any size) for a validation PSNR every validateEvery steps: for Unconditional,
   * one denoising call at σ = validationSigma (default 0.2); for Palette, the one-step MMSE estimate for the
   * first degradation.
   */
  validation?: Tensor;
  validationSigma?: number;
}

export async function trainDiffusion(o: TrainDiffusionOptions): Promise<TrainingResult> {
  if (!o || typeof o !== 'object') throw new TypeError(`trainDiffusion: argument 'options' expected an object`);
  for (const key of ['model', 'data'] as const) if (!o[key]) throw new TypeError(`trainDiffusion: option '${key}' is required`);
  const { model, data, validation, degradations = [], lr = 2e-4, pMean = -1.2, pStd = 1.2, seed = 0, validationSigma = 0.2, ...loop } = o;
  if (!(model instanceof DiffusionModel)) throw new TypeError(`trainDiffusion: option 'model' expected an Unconditional or Palette model`);
  const conditional = model instanceof Palette;
  if (conditional && !degradations.length) throw new TypeError(`trainDiffusion: a Palette model needs option 'degradations' (at least one operator spec)`);
  if (!conditional && degradations.length) throw new TypeError(`trainDiffusion: option 'degradations' applies to Palette models only; an Unconditional model ignores operators`);
  if (!(pStd > 0) || !Number.isFinite(pMean)) throw new RangeError(`trainDiffusion: options 'pMean' must be finite and 'pStd' positive`);
  const { crop, batch } = data.options;
  if (crop % model.sizeMultiple) throw new RangeError(`trainDiffusion: the data's crop ${crop} must be a multiple of ${model.sizeMultiple} for this model`);
  const dtype = model.dtype;
  const sd2 = ((model.options.sigmaData as number | undefined) ?? 0.5) ** 2;
  return runWithAdam({
    ...loop,
    model,
    betas: [0.9, 0.99],
    data,
    lr,
    loss: (images, step) => {
      const x = images.to({ dtype });
      const stepSeed = seed * 1_000_003 + step * batch;
      const sigma = randn([batch], { seed: stepSeed, dtype }).mul(pStd).add(pMean).exp();
      const s = sigma.reshape([batch, 1, 1, 1]);
      const noisy = x.add(randn(x.shape, { seed: stepSeed + 1, dtype }).mul(s));
      let denoised: Tensor;
      if (conditional) {
        const spec = degradations[Math.floor(mulberry32(stepSeed)() * degradations.length)];
        const A = fromSpec(spec, x.shape.slice(1), { batch, seed: stepSeed });
        try {
          denoised = model.denoise(noisy, sigma, { operator: A, y: A.measure(x, { seed: stepSeed + 2 }) });
        } finally {
          A.dispose();
        }
      } else {
        denoised = model.denoise(noisy, sigma);
      }
      const weight = s.square().add(sd2).div(s.square().mul(sd2));
      return denoised.sub(x).square().mul(weight).mean();
    },
    validate: validation ? () => evaluate(model, validation, conditional ? degradations[0] : undefined, validationSigma, seed) : undefined,
    config: { trainer: 'diffusion', degradations, seed, lr, pMean, pStd, milestones: o.milestones ?? [], steps: o.steps },
  });
}

function evaluate(model: DiffusionModel, images: Tensor, degradation: OperatorSpec | undefined, sigma: number, seed: number): number {
  return evaluating(model, () =>
    scope(() => {
      const { padded, crop } = padToMultiple(images, model.sizeMultiple);
      const x = padded.to({ dtype: model.dtype });
      if (!degradation) return psnr(crop(model.denoise(x.add(randn(x.shape, { seed, dtype: x.dtype }).mul(sigma)), sigma)), images);
      const A = fromSpec(degradation, x.shape.slice(1), { batch: x.shape[0], seed });
      try {
        return psnr(crop(model.mmse(A, A.measure(x, { seed }), { seed })), images);
      } finally {
        A.dispose();
      }
    }),
  );
}
