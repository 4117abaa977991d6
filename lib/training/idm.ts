// trainIDM (papers.md §1.7): the unrolled sampler trained end to end with an L1 loss, Adam with step decay,
// random crops with the 8 flips/rotations, and a fresh operator instance (for block CS a fresh
// permutation per image) for every batch.
import type { ImageDataset } from '../data/dataset';
import type { IDM } from '../models/idm';
import { Adam } from '../optim';
import { fromSpec, OperatorSpec } from '../operators';
import { noGrad } from '../autograd';
import { psnr } from '../metrics/psnr';
import type { Tensor } from '../tensor';
import { runTraining, StepInfo, TrainingResult } from './runner';

export interface TrainIDMOptions {
  model: IDM;
  data: ImageDataset;
  /** The degradation, e.g. { family: 'blockCS', ratio: 0.1 }; imageShape, batch and seed are set per batch. */
  operator: OperatorSpec;
  steps: number;
  /** Adam learning rate (default 1e-4), halved (gamma) at each milestone step. */
  lr?: number;
  milestones?: number[];
  gamma?: number;
  /** EMA decay (default 0.999, 0 = off). The model ends with the averaged weights. */
  ema?: number;
  seed?: number;
  /** Held-out images (N×C×H×W, any size; padded as IDM needs) for PSNR every validateEvery steps. */
  validation?: Tensor;
  validateEvery?: number;
  checkpoint?: string;
  checkpointEvery?: number;
  resume?: boolean;
  progress?: boolean;
  onStep?: (info: StepInfo) => void;
  signal?: AbortSignal;
  handleInterrupt?: boolean;
}

export async function trainIDM(o: TrainIDMOptions): Promise<TrainingResult> {
  if (!o || typeof o !== 'object') throw new TypeError(`trainIDM: argument 'options' expected an object`);
  for (const key of ['model', 'data', 'operator'] as const) if (!o[key]) throw new TypeError(`trainIDM: option '${key}' is required`);
  const seed = o.seed ?? 0;
  const { crop, batch } = o.data.options;
  const channels = (o.model.options.imageChannels as number | undefined) ?? 1;
  if (crop % o.model.sizeMultiple) throw new RangeError(`trainIDM: the data's crop ${crop} must be a multiple of ${o.model.sizeMultiple} for this model`);
  const dtype = o.model.parameters()[0].dtype;
  const optimizer = new Adam(o.model.parameters(), { lr: o.lr ?? 1e-4 });
  o.model.train();
  try {
    return await runTraining({
      model: o.model,
      optimizer,
      data: o.data,
      steps: o.steps,
      lr: o.lr ?? 1e-4,
      milestones: o.milestones,
      gamma: o.gamma,
      ema: o.ema,
      loss: (images, step) => {
        const x = images.to({ dtype });
        // A fresh operator per batch; seeds never repeat across steps or batch elements.
        const A = fromSpec(o.operator, [channels, crop, crop], { batch, seed: seed * 1_000_003 + step * batch });
        try {
          return o.model.reconstruct(A, A.forward(x)).sub(x).abs().mean();
        } finally {
          A.dispose();
        }
      },
      validate: o.validation ? () => evaluate(o.model, o.validation!, o.operator, seed) : undefined,
      validateEvery: o.validateEvery,
      checkpoint: o.checkpoint,
      checkpointEvery: o.checkpointEvery,
      resume: o.resume,
      progress: o.progress,
      onStep: o.onStep,
      signal: o.signal,
      handleInterrupt: o.handleInterrupt,
      config: { trainer: 'idm', operator: o.operator, seed, lr: o.lr ?? 1e-4, milestones: o.milestones ?? [], steps: o.steps },
    });
  } finally {
    optimizer.dispose();
    o.model.eval();
  }
}

function evaluate(model: IDM, images: Tensor, operator: OperatorSpec, seed: number): number {
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => {
      const { restored } = model.restoreImages(images, operator, { seed });
      const value = psnr(restored, images);
      restored.dispose();
      return value;
    });
  } finally {
    model.train(wasTraining);
  }
}
