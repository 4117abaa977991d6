// The training loop shared by every trainer: steps with a learning-rate schedule, an exponential moving
// average of the weights, progress, periodic validation, atomic checkpoints that resume bit for bit, and
// Ctrl-C that saves before stopping. Trainers supply the loss of one batch. Distributed (data-parallel over
// the process group of ./distributed), every rank trains on its shard of each global batch with the same
// weights: rank 0's are broadcast at the start, gradients are averaged before each step, and only rank 0
// logs, validates and writes checkpoints.
import * as fs from 'fs';
import type { ImageDataset, DatasetState } from '../data/dataset';
import type { Module } from '../module';
import { noGrad } from '../autograd';
import { Adam, Optimizer } from '../optim';
import { Series, writeLineChart } from '../io/plot';
import { Progress } from '../io/progress';
import { loadSafetensors, saveSafetensors } from '../safetensors';
import { fromHandle, native, keep, scope, th, type Tensor } from '../tensor';
import { tensor } from '../generated/ops';
import * as distributed from './distributed';

export interface StepInfo {
  step: number;
  steps: number;
  loss: number;
  lr: number;
  imagesPerSecond: number;
  etaSeconds: number;
}

export interface TrainingHistory {
  /** Loss per step, from step 1. */
  losses: number[];
  /** Validation results (PSNR in dB) at the steps they ran. */
  validation: { step: number; psnr: number }[];
}

export interface TrainingResult extends TrainingHistory {
  /** Steps (this run) whose gradients held NaN or ±Inf, which were set to 0 before the optimizer step. */
  nonFiniteSteps: number;
  /** Batches (this run) whose loss was NaN or ±Inf: skipped without an update (they are not counted as steps). */
  nonFiniteLosses: number;
  /** Steps done in total (including those before a resume). */
  step: number;
  /** True when stopped early by Ctrl-C or the abort signal; a checkpoint was written if one was configured. */
  interrupted: boolean;
  seconds: number;
}

export interface RunnerOptions {
  model: Module;
  optimizer: Optimizer;
  data: ImageDataset;
  steps: number;
  /**
   * The loss of one batch (a scalar tensor with a graph, the mean over the batch); the runner calls backward
   * and steps. first: the index of the batch's first image in the run's global sequence of images
   * (step × batch in one process), which keys per-image random draws so that they do not depend on the rank.
   */
  loss: (batch: Tensor, step: number, first: number) => Tensor;
  lr: number;
  /** Steps at which the learning rate is multiplied by gamma (step decay). */
  milestones?: number[];
  gamma?: number;
  /** Steps of linear learning-rate warm-up from 0 (default 0). */
  warmup?: number;
  /** Inverse-square-root decay after this step: lr · 1/√max(step/rsqrtDecay, 1) (EDM2's schedule; default off). */
  rsqrtDecay?: number;
  /** EMA decay of the weights (0 turns it off). Default 0.999. */
  ema?: number;
  /** Mean PSNR of the current weights on held-out images: at the start of a fresh run, every validateEvery steps and at the end. */
  validate?: () => number;
  validateEvery?: number;
  /** Safetensors file holding model, EMA, optimizer, RNG and data state; written atomically. */
  checkpoint?: string;
  checkpointEvery?: number;
  /** Continue from `checkpoint` if it exists. */
  resume?: boolean;
  /** A progress line on stderr. Default: when stderr is a terminal. */
  progress?: boolean;
  onStep?: (info: StepInfo) => void;
  signal?: AbortSignal;
  /** Save and stop on SIGINT (Ctrl-C) instead of dying. Default false (the CLI turns it on). */
  handleInterrupt?: boolean;
  /** A PNG chart of the loss (mean per bucket of steps) and validation PSNR, rewritten with each checkpoint and at the end. */
  plot?: string;
  /** Extra metadata stored in checkpoints (the trainer's configuration). */
  config?: Record<string, unknown>;
  /**
   * A batch whose loss is NaN or ±Inf is skipped (no backward, no update, the weights stay as they were);
   * this many in a row stop the run with an error, since the weights or the data have gone bad. Default 5.
   */
  maxNonFiniteLosses?: number;
  /**
   * Data-parallel over the process group inv.distributed.init() joined: the data is sharded per rank (each
   * rank's batch is its block of a global batch worldSize × batch), rank 0's weights are broadcast at the
   * start, gradients averaged in buckets before every step; progress, validation, plots and checkpoints come
   * from rank 0 only (onStep runs on every rank). A checkpoint resumes on any world size; every rank must see
   * the checkpoint file. Default false.
   */
  distributed?: boolean;
  /** The size of the gradient buckets of a distributed run (bytes; default 25 MiB). */
  bucketBytes?: number;
}

interface CheckpointMeta {
  step: number;
  dataset: DatasetState;
  history: TrainingHistory;
  config?: Record<string, unknown>;
}

/** The loss curve (means over up to 200 buckets of steps) and the validation PSNR on a second axis. */
export function plotHistory(file: string, history: TrainingHistory, title = 'training'): Promise<void> {
  const n = history.losses.length;
  const bucket = Math.max(1, Math.ceil(n / 200));
  const loss: [number, number][] = [];
  for (let i = 0; i < n; i += bucket) {
    const part = history.losses.slice(i, i + bucket);
    loss.push([i + part.length, part.reduce((a, b) => a + b, 0) / part.length]);
  }
  const series: Series[] = [{ name: 'loss', points: loss }];
  if (history.validation.length) series.push({ name: 'validation PSNR (dB)', points: history.validation.map((v) => [v.step, v.psnr]), right: true });
  return writeLineChart(file, series, { title, xLabel: 'step' });
}

function lrAt(step: number, o: RunnerOptions): number {
  const passed = (o.milestones ?? []).filter((m) => step >= m).length;
  const warm = o.warmup ? Math.min((step + 1) / o.warmup, 1) : 1;
  const decay = o.rsqrtDecay ? 1 / Math.sqrt(Math.max(step / o.rsqrtDecay, 1)) : 1;
  return o.lr * (o.gamma ?? 0.5) ** passed * warm * decay;
}

/** Model weights from a checkpoint (the EMA ones when present), as [name, tensor] pairs for loadStateDict. */
export function checkpointWeights(path: string, which: 'ema' | 'model' = 'ema'): { weights: [string, Tensor][]; metadata: Record<string, string> } {
  const { tensors, metadata } = loadSafetensors(path);
  const prefix = which === 'ema' && Object.keys(tensors).some((k) => k.startsWith('ema.')) ? 'ema.' : 'model.';
  const weights: [string, Tensor][] = [];
  for (const [k, t] of Object.entries(tensors)) {
    if (k.startsWith(prefix)) weights.push([k.slice(prefix.length), t]);
    else t.dispose();
  }
  if (!weights.length) throw new Error(`'${path}' is not an invdiff training checkpoint (no model.* tensors)`);
  return { weights, metadata };
}

// Checkpoint tensors under this prefix are the optimizer's stateDict.
const OPTIMIZER = 'optimizer.';

function optimizerState(tensors: Record<string, Tensor>, file: string): [string, Tensor][] {
  // Before the optimizer state had a format invdiff checks, it was one uint8 tensor holding LibTorch's
  // archive, whose loader lets a tampered tensor record corrupt the heap at the next step; it is not read.
  if (tensors.optimizer)
    throw new Error(
      `training: checkpoint '${file}' holds its optimizer state in LibTorch's archive format, which an earlier invdiff wrote and this one ` +
        'no longer reads (its contents cannot be checked safely); its weights still load with inv.training.checkpointWeights, to start a fresh run from them',
    );
  return Object.entries(tensors)
    .filter(([k]) => k.startsWith(OPTIMIZER))
    .map(([k, t]): [string, Tensor] => [k.slice(OPTIMIZER.length), t]);
}

/** fn's value computed in eval mode without autograd (validation inside a training run); the mode is restored after. */
export function evaluating<T>(model: Module, fn: () => T): T {
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(fn);
  } finally {
    model.train(wasTraining);
  }
}

/**
 * runTraining with Adam over all the model's parameters, in training mode for the run and eval mode after:
 * what every trainer here does around its loss.
 */
export async function runWithAdam(o: Omit<RunnerOptions, 'optimizer'> & { betas?: [number, number] }): Promise<TrainingResult> {
  const { betas = [0.9, 0.999], ...rest } = o;
  const optimizer = new Adam(o.model.parameters(), { lr: o.lr, beta1: betas[0], beta2: betas[1] });
  o.model.train();
  try {
    return await runTraining({ ...rest, optimizer });
  } finally {
    optimizer.dispose();
    o.model.eval();
  }
}

export async function runTraining(o: RunnerOptions): Promise<TrainingResult> {
  if (!Number.isInteger(o.steps) || o.steps < 1) throw new RangeError(`training: option 'steps' must be a positive integer, got ${o.steps}`);
  if (!(o.lr > 0)) throw new RangeError(`training: option 'lr' must be positive, got ${o.lr}`);
  const decay = o.ema ?? 0.999;
  if (!(decay >= 0 && decay < 1)) throw new RangeError(`training: option 'ema' must lie in [0, 1), got ${decay}`);
  const maxNonFinite = o.maxNonFiniteLosses ?? 5;
  if (!(Number.isInteger(maxNonFinite) && maxNonFinite >= 1))
    throw new RangeError(`training: option 'maxNonFiniteLosses' must be a positive integer (batches in a row), got ${maxNonFinite}`);
  for (const key of ['warmup', 'rsqrtDecay'] as const)
    if (o[key] !== undefined && !(Number.isInteger(o[key]) && o[key]! >= 0)) throw new RangeError(`training: option '${key}' must be an integer >= 0 (steps), got ${o[key]}`);
  if (o.distributed && !distributed.isInitialized())
    throw new Error(`training: option 'distributed' needs a process group; call inv.distributed.init() (or initAsync) on every rank first`);
  const world = o.distributed ? { rank: distributed.rank, size: distributed.worldSize } : { rank: 0, size: 1 };
  const lead = world.rank === 0;
  if (o.distributed) {
    o.data.shard({ rank: world.rank, worldSize: world.size });
    await distributed.broadcastModuleAsync(o.model, { src: 0, bucketBytes: o.bucketBytes });
  }
  const named = o.model.namedParameters();
  const params = named.map(([, p]) => p);
  const ema = decay > 0 ? params.map((p) => keep(p.detach().clone())) : [];
  const history: TrainingHistory = { losses: [], validation: [] };
  let step = 0;

  if (o.resume && o.checkpoint && fs.existsSync(o.checkpoint)) {
    const { tensors, metadata } = loadSafetensors(o.checkpoint);
    try {
      const meta: CheckpointMeta = JSON.parse(metadata['invdiff.checkpoint'] ?? 'null');
      if (!meta) throw new Error(`training: '${o.checkpoint}' is not a training checkpoint`);
      // The optimizer first: a state that does not fit then leaves the caller's model untouched.
      o.optimizer.loadStateDict(optimizerState(tensors, o.checkpoint));
      o.model.loadStateDict(named.map(([n]): [string, Tensor] => [n, tensors[`model.${n}`] ?? missing(n)]));
      if (ema.length) scope(() => native.emaUpdate(ema.map(th), named.map(([n]) => th(tensors[`ema.${n}`] ?? tensors[`model.${n}`])), 0));
      native.setRngState(th(tensors.rng));
      o.data.restore(meta.dataset);
      step = meta.step;
      history.losses.push(...meta.history.losses);
      history.validation.push(...meta.history.validation);
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  }
  if (o.distributed) {
    // Ranks that resumed from different steps (a checkpoint only some of them see) would never agree again.
    const low = tensor([step], [1], { dtype: 'float64' });
    const high = tensor([step], [1], { dtype: 'float64' });
    await distributed.allReduceAsync(low, { op: 'min' });
    await distributed.allReduceAsync(high, { op: 'max' });
    const [a, b] = [low.item(), high.item()];
    low.dispose();
    high.dispose();
    if (a !== b) throw new Error(`training: the ranks start from different steps (${a} to ${b}); every rank must see the same checkpoint '${o.checkpoint}'`);
  }
  function missing(name: string): never {
    throw new Error(`training: checkpoint '${o.checkpoint}' lacks parameter '${name}' (a different model?)`);
  }

  const save = () => {
    if (!o.checkpoint || !lead) return;
    scope(() => {
      const tensors: [string, Tensor][] = [
        ...named.map(([n, p]): [string, Tensor] => [`model.${n}`, p]),
        ...ema.map((e, i): [string, Tensor] => [`ema.${named[i][0]}`, e]),
        ...o.optimizer.stateDict().map(([n, t]): [string, Tensor] => [`${OPTIMIZER}${n}`, t]),
        ['rng', fromHandle(native.rngState())],
      ];
      const meta: CheckpointMeta = { step, dataset: o.data.state(), history, config: o.config };
      saveSafetensors(o.checkpoint!, tensors, {
        'invdiff.kind': o.model.kind,
        'invdiff.options': JSON.stringify(o.model.options),
        'invdiff.checkpoint': JSON.stringify(meta),
      });
    });
  };

  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  if (o.handleInterrupt) process.on('SIGINT', onSigint);
  const started = Date.now();
  const first = step;
  const progress = new Progress('training', o.steps, { quiet: !lead || !(o.progress ?? Boolean(process.stderr.isTTY)), from: first });
  const batchSize = o.data.options.batch * world.size;
  const validate = lead ? o.validate : undefined;
  const plot = lead ? o.plot : undefined;
  let nonFiniteSteps = 0;
  let nonFiniteLosses = 0;
  let inARow = 0;
  try {
    // Where a fresh run starts from (a pretrained initialisation shows here).
    if (validate && o.validateEvery && step === 0) history.validation.push({ step, psnr: validate() });
    let stop = !o.distributed && (interrupted || Boolean(o.signal?.aborted));
    while (step < o.steps && !stop) {
      const lr = lrAt(step, o);
      o.optimizer.lr = lr;
      const batch = await o.data.nextAsync();
      let loss = scope(() => {
        o.optimizer.zeroGrad();
        const l = o.loss(batch, step, (step * world.size + world.rank) * o.data.options.batch);
        const value = l.item();
        if (Number.isFinite(value)) l.backward();
        return value;
      });
      batch.dispose();
      stop = interrupted || Boolean(o.signal?.aborted);
      if (o.distributed) {
        // Every rank takes part in the same collectives, a skipped batch too (its gradients are zero).
        await distributed.averageGradientsAsync(params, { bucketBytes: o.bucketBytes });
        // The global mean loss, and a stop that any rank asked for, so that all ranks leave after the same step
        // (and skip the same non-finite batches: one rank's NaN makes the sum NaN).
        const shared = tensor([loss, stop ? 1 : 0], [2], { dtype: 'float64' });
        await distributed.allReduceAsync(shared, { op: 'sum' });
        const [sum, stops] = shared.toFloat64Array();
        shared.dispose();
        loss = sum / world.size;
        stop = stops > 0;
      }
      if (!Number.isFinite(loss)) {
        nonFiniteLosses++;
        if (++inARow >= maxNonFinite)
          throw new Error(
            `training: the loss was ${loss} for ${inARow} batches in a row at step ${step + 1} (option 'maxNonFiniteLosses' is ${maxNonFinite}); ` +
              'the weights are those of the last update and the last checkpoint holds them as of its step',
          );
        continue;
      }
      inARow = 0;
      if (native.zeroNonFiniteGrads(params.map(th)) > 0) nonFiniteSteps++;
      o.optimizer.step();
      if (ema.length) native.emaUpdate(ema.map(th), params.map(th), Math.min(decay, (1 + step) / (10 + step)));
      step++;
      history.losses.push(loss);
      const elapsed = (Date.now() - started) / 1000;
      const rate = ((step - first) * batchSize) / elapsed;
      const info: StepInfo = { step, steps: o.steps, loss, lr, imagesPerSecond: rate, etaSeconds: ((o.steps - step) * batchSize) / rate };
      o.onStep?.(info);
      progress.update(step, `loss ${loss.toFixed(4)} · ${rate.toFixed(1)} img/s`);
      if (validate && o.validateEvery && step % o.validateEvery === 0 && step < o.steps) history.validation.push({ step, psnr: validate() });
      if (o.checkpointEvery && step % o.checkpointEvery === 0) {
        save();
        if (plot) await plotHistory(plot, history);
      }
      await new Promise((r) => setImmediate(r)); // lets Ctrl-C and the signal reach us between steps
      stop ||= !o.distributed && (interrupted || Boolean(o.signal?.aborted));
    }
    const stoppedEarly = step < o.steps;
    if (validate && !stoppedEarly) history.validation.push({ step, psnr: validate() });
    save();
    if (plot && history.losses.length) await plotHistory(plot, history);
    // The other ranks return once rank 0's last checkpoint is on disk.
    if (o.distributed) await distributed.barrierAsync();
    progress.finish();
    return { step, interrupted: stoppedEarly, seconds: (Date.now() - started) / 1000, nonFiniteSteps, nonFiniteLosses, ...history };
  } finally {
    if (o.handleInterrupt) process.off('SIGINT', onSigint);
    if (ema.length) {
      // The model ends with the averaged weights, which are the ones to evaluate and ship.
      scope(() => o.model.loadStateDict(named.map(([n], i): [string, Tensor] => [n, ema[i]])));
      for (const e of ema) e.dispose();
    }
  }
}
