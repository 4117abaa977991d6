// trainDiffusion: denoising score matching with EDM preconditioning (papers.md §4.1, §2.6) for the
// Unconditional, Palette and InvFussion models. ln σ ~ N(pMean, pStd²) (optionally a share of draws at σ = 100,
// so the one-step MMSE is trained, not extrapolated), x_σ = x + σn. Loss 'edm': λ(σ)·‖D(x_σ; σ) − x‖² with
// λ = (σ² + σ_d²)/(σσ_d)², unit-weighted on the network's own output; 'edm2': λ(σ)/e^{u(σ)}·(D − x)² + u(σ)
// per element with the network's learned log-variance u (HDiT networks). Conditional models see one degradation
// per batch, drawn from a weighted list (a fresh instance each time, measured after augmentation).
import type { ImageDataset } from '../data/dataset';
import { mulberry32 } from '../data/dead-leaves';
import { rand, randn, where } from '../generated/ops';
import { psnr } from '../metrics/psnr';
import { DiffusionModel, MMSE_SIGMA, Unconditional } from '../models/diffusion';
import { padToMultiple } from '../models/padding';
import { fromSpec, OperatorSpec } from '../operators';
import { scope, type Tensor } from '../tensor';
import type { LoopOptions } from './idm';
import { evaluating, runWithAdam, TrainingResult } from './runner';

export interface TrainDiffusionOptions extends LoopOptions {
  model: DiffusionModel;
  data: ImageDataset;
  /** Conditional models (Palette, InvFussion): the degradations to train on, one drawn per batch (a fresh instance each time). */
  degradations?: OperatorSpec[];
  /** Relative weights of the degradations (default: uniform). */
  degradationWeights?: number[];
  /** Adam learning rate (default 2e-4, β = (0.9, 0.99) as in §2.6), multiplied by gamma at each milestone. */
  lr?: number;
  /** Mean and standard deviation of ln σ during training (default −1.2 and 1.2, EDM's; EDM2 pixel models use −0.8 and 1.6). */
  pMean?: number;
  pStd?: number;
  /** The share of σ draws set to 100, where one call is the MMSE estimate (default 0). */
  mmseShare?: number;
  /** 'edm' (default) or 'edm2' (learned log-variance weighting; HDiT networks). */
  weighting?: 'edm' | 'edm2';
  /** EMA half-life in images (overrides ema: decay = 0.5^(batch/halfLife)). */
  emaHalfLife?: number;
  seed?: number;
  /**
   * Held-out images (N×C×H×W, any size) for a validation PSNR every validateEvery steps: for Unconditional,
   * one denoising call at σ = validationSigma (default 0.2); for conditional models, the one-step MMSE
   * estimate for the first degradation.
   */
  validation?: Tensor;
  validationSigma?: number;
}

/** A draw from weights w (non-negative, not all 0) given u ∈ [0, 1). */
function pick(weights: number[], u: number): number {
  const total = weights.reduce((a, b) => a + b, 0);
  let acc = 0;
  for (let i = 0; i < weights.length; i++) if ((acc += weights[i] / total) > u) return i;
  return weights.length - 1;
}

export async function trainDiffusion(o: TrainDiffusionOptions): Promise<TrainingResult> {
  if (!o || typeof o !== 'object') throw new TypeError(`trainDiffusion: argument 'options' expected an object`);
  for (const key of ['model', 'data'] as const) if (!o[key]) throw new TypeError(`trainDiffusion: option '${key}' is required`);
  const {
    model, data, validation, degradations = [], degradationWeights, lr = 2e-4, pMean = -1.2, pStd = 1.2, mmseShare = 0, weighting = 'edm',
    emaHalfLife, seed = 0, validationSigma = 0.2, ...loop
  } = o;
  if (!(model instanceof DiffusionModel)) throw new TypeError(`trainDiffusion: option 'model' expected an Unconditional, Palette or InvFussion model`);
  const conditional = !(model instanceof Unconditional);
  if (conditional && !degradations.length) throw new TypeError(`trainDiffusion: a ${model.kind} model needs option 'degradations' (at least one operator spec)`);
  if (!conditional && degradations.length) throw new TypeError(`trainDiffusion: option 'degradations' applies to conditional models only; an Unconditional model ignores operators`);
  const weights = degradationWeights ?? degradations.map(() => 1);
  if (weights.length !== degradations.length || weights.some((w) => !(w >= 0)) || (degradations.length && !weights.some((w) => w > 0)))
    throw new RangeError(`trainDiffusion: option 'degradationWeights' needs one non-negative weight per degradation (${degradations.length}), not all 0`);
  if (!(pStd > 0) || !Number.isFinite(pMean)) throw new RangeError(`trainDiffusion: options 'pMean' must be finite and 'pStd' positive`);
  if (!(mmseShare >= 0 && mmseShare < 1)) throw new RangeError(`trainDiffusion: option 'mmseShare' must lie in [0, 1), got ${mmseShare}`);
  if (weighting !== 'edm' && weighting !== 'edm2') throw new RangeError(`trainDiffusion: option 'weighting' must be 'edm' or 'edm2', got '${weighting}'`);
  if (emaHalfLife !== undefined && !(emaHalfLife > 0)) throw new RangeError(`trainDiffusion: option 'emaHalfLife' must be a positive number of images, got ${emaHalfLife}`);
  const { crop, batch } = data.options;
  if (crop % model.sizeMultiple) throw new RangeError(`trainDiffusion: the data's crop ${crop} must be a multiple of ${model.sizeMultiple} for this model`);
  if (weighting === 'edm2') scope(() => model.logVariance(randn([1]).exp())); // fails now, naming the model, if it has no u(σ)
  const dtype = model.dtype;
  const sd2 = ((model.options.sigmaData as number | undefined) ?? 0.5) ** 2;
  return runWithAdam({
    ...loop,
    ema: emaHalfLife !== undefined ? 0.5 ** (batch / emaHalfLife) : loop.ema,
    model,
    betas: [0.9, 0.99],
    data,
    lr,
    loss: (images, _step, first) => {
      const x = images.to({ dtype });
      // Keyed by the batch's place in the global sequence, so that ranks draw different noise.
      const stepSeed = seed * 1_000_003 + first;
      let sigma = randn([batch], { seed: stepSeed, dtype }).mul(pStd).add(pMean).exp();
      if (mmseShare > 0) sigma = where(rand([batch], { seed: stepSeed + 3, dtype }).lt(mmseShare), MMSE_SIGMA, sigma);
      const s = sigma.reshape([batch, 1, 1, 1]);
      const noisy = x.add(randn(x.shape, { seed: stepSeed + 1, dtype }).mul(s));
      let denoised: Tensor;
      if (conditional) {
        const spec = degradations[pick(weights, mulberry32(stepSeed)())];
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
      const error = denoised.sub(x).square().mul(weight);
      if (weighting === 'edm') return error.mean();
      const u = model.logVariance(sigma).reshape([batch, 1, 1, 1]);
      return error.div(u.exp()).add(u).mean();
    },
    validate: validation ? () => evaluate(model, validation, conditional ? degradations[0] : undefined, validationSigma, seed) : undefined,
    config: {
      trainer: 'diffusion', degradations, degradationWeights: weights, seed, lr, pMean, pStd, mmseShare, weighting, emaHalfLife,
      warmup: o.warmup, rsqrtDecay: o.rsqrtDecay, milestones: o.milestones ?? [], steps: o.steps,
    },
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
