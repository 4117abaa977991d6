// trainIDM (papers.md §1.7): the unrolled sampler trained end to end with an L1 loss, Adam with step decay,
// random crops with the 8 flips/rotations, and a fresh operator instance (for block CS a fresh
// permutation per image) for every batch.
import type { ImageDataset } from '../data/dataset';
import type { IDM } from '../models/idm';
import { fromSpec, OperatorSpec } from '../operators';
import { psnr } from '../metrics/psnr';
import { restoreImages } from '../restoration/restore-images';
import type { Tensor } from '../tensor';
import { evaluating, RunnerOptions, runWithAdam, TrainingResult } from './runner';

/** The loop's own settings, passed through to runTraining (see RunnerOptions for each). */
export type LoopOptions = Pick<
  RunnerOptions,
  | 'steps' | 'milestones' | 'gamma' | 'warmup' | 'rsqrtDecay' | 'ema' | 'validateEvery' | 'checkpoint' | 'checkpointEvery' | 'resume' | 'progress' | 'onStep' | 'signal'
  | 'handleInterrupt' | 'plot' | 'maxNonFiniteLosses' | 'distributed' | 'bucketBytes'
>;

export interface TrainIDMOptions extends LoopOptions {
  model: IDM;
  data: ImageDataset;
  /** The degradation, e.g. { family: 'blockCS', ratio: 0.1 }; imageShape, batch and seed are set per batch. */
  operator: OperatorSpec;
  /** Adam learning rate (default 1e-4), multiplied by gamma (0.5) at each milestone step. */
  lr?: number;
  seed?: number;
  /**
   * Held-out images (N×C×H×W, any size; padded as IDM needs) for PSNR every validateEvery steps, image i
   * measured with seed i whatever the training seed, so the curves of runs with different seeds compare.
   */
  validation?: Tensor;
}

export async function trainIDM(o: TrainIDMOptions): Promise<TrainingResult> {
  if (!o || typeof o !== 'object') throw new TypeError(`trainIDM: argument 'options' expected an object`);
  for (const key of ['model', 'data', 'operator'] as const) if (!o[key]) throw new TypeError(`trainIDM: option '${key}' is required`);
  const { model, data, operator, validation, lr = 1e-4, seed = 0, ...loop } = o;
  const { crop, batch } = data.options;
  const channels = (model.options.imageChannels as number | undefined) ?? 1;
  if (crop % model.sizeMultiple) throw new RangeError(`trainIDM: the data's crop ${crop} must be a multiple of ${model.sizeMultiple} for this model`);
  const dtype = model.dtype;
  return runWithAdam({
    ...loop,
    model,
    data,
    lr,
    loss: (images, _step, first) => {
      const x = images.to({ dtype });
      // A fresh operator per batch; seeds never repeat across steps, batch elements or ranks.
      const A = fromSpec(operator, [channels, crop, crop], { batch, seed: seed * 1_000_003 + first });
      try {
        return model.reconstruct(A, A.forward(x)).sub(x).abs().mean();
      } finally {
        A.dispose();
      }
    },
    validate: validation ? () => evaluate(model, validation, operator) : undefined,
    config: { trainer: 'idm', operator, seed, lr, milestones: o.milestones ?? [], steps: o.steps },
  });
}

// A scrambled block-CS permutation or a mask changes PSNR by ~0.1 dB, more than late training steps gain.
function evaluate(model: IDM, images: Tensor, operator: OperatorSpec): number {
  return evaluating(model, () => {
    const { restored, baseline } = restoreImages(model, images, operator, { seed: 0 });
    const value = psnr(restored, images);
    restored.dispose();
    baseline.dispose();
    return value;
  });
}
