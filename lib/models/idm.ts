// IDM (Invertible Diffusion Models, papers.md §1): a few-step DDIM sampler with data consistency, unrolled
// into one reconstruction network and trained end to end; reversible at the step and block level.
import * as fs from 'fs';
import { Module, type ModuleOptions } from '../module';
import type { Operator } from '../operators/operator';
import { loadSafetensors } from '../safetensors';
import { Unconditional } from './diffusion';
import { loadModel } from './load';
import { nativeOptions } from './options';
import { shippedFile, shippedPath, type ShippedName } from './shipped';
import { checkOptions, fromHandle, native, scope, th, type Tensor } from '../tensor';


export interface IDMOptions {
  /** Sampling steps T of the unrolled chain (default 3). */
  steps?: number;
  /** Image channels: 1 for the CS papers' Y channel (default), 3 for RGB. */
  imageChannels?: number;
  /** U-Net width at the first level (default 32; the paper preset 320). */
  channels?: number;
  /** Width multiplier per level; the image must be a multiple of 2^levels (default [1, 2]). */
  multipliers?: number[];
  /** Channel-preserving reversible blocks per level (default 2). */
  blocks?: number;
  /** Per level, whether it has self-attention blocks (each with two measurement injectors). Default: the last level only. */
  attention?: (boolean | number)[];
  heads?: number;
  /** Attention queries processed at once (default 512), which bounds attention memory on large images; results do not change. */
  attentionChunk?: number;
  /** GroupNorm groups (default 8; the paper preset 32). */
  groups?: number;
  dropout?: number;
  /** 'level': one skip per level, so memory stays flat with depth (default); 'block': SD's skip per block. */
  skips?: 'level' | 'block';
  /** Doubles the bottleneck width before the up path, as SD's pruned up blocks expect. */
  duplicateBottleneck?: boolean;
  /** false: the same network and parameters with stored activations (the reference for tests and benchmarks). */
  reversible?: boolean;
  /**
   * Training with `reversible`: how many of the chain's last steps keep their U-Net's graph from forward, so
   * backward does not run them again (0 to steps, default 2, or steps when fewer). Each costs the tensors
   * between the U-Net's reversible sequences and checkpoints, flat in depth; results do not change.
   */
  keepSteps?: number;
  /**
   * Projects the chain's output onto {x : A x = y}, x̂ − A⁺(A x̂ − y), as every step's x̂₀ already is (default
   * true). The last coupling mixes that x̂₀ with the other stream, so without it the output is not consistent
   * with y; without noise the projection cannot move x̂ away from the image (+0.1 to +0.4 dB on the shipped
   * checkpoints). false: the paper's output, as checkpoints trained before this option were.
   */
  finalProjection?: boolean;
  /** 'small' (the defaults, sized for a CPU) or 'paper': §1.4's pruned SD-1.5 U-Net shapes. Explicit options override it. */
  preset?: 'small' | 'paper';
  /**
   * 'eps' (default): the U-Net predicts ε, as SD's. 'edm': it is an EDM denoiser with a noise embedding, run at
   * each step's σ = √((1 − ᾱ)/ᾱ) (what {@link IDM.fromPrior} builds).
   */
  parameterization?: 'eps' | 'edm';
  /** σ_data of the 'edm' parameterization (default 0.5). */
  sigmaData?: number;
}

/** What {@link IDM.fromPrior} leaves to the caller: the architecture comes from the prior. */
export type IDMFromPriorOptions = Pick<IDMOptions, 'steps' | 'reversible' | 'keepSteps' | 'dropout' | 'attentionChunk' | 'finalProjection'>;
const FROM_PRIOR_OPTIONS = ['steps', 'reversible', 'keepSteps', 'dropout', 'attentionChunk', 'finalProjection'];

const PAPER: IDMOptions = {
  channels: 320,
  multipliers: [1, 2],
  blocks: 2,
  attention: [true, true],
  heads: 8,
  groups: 32,
  skips: 'block',
  duplicateBottleneck: true,
};

const FLAG_LISTS = ['attention'];

/** The options the native module takes (and checks): the preset expanded, per-level flags as numbers. */
function idmOptions(options: IDMOptions): ModuleOptions {
  const { preset, ...rest } = nativeOptions('IDM', options, FLAG_LISTS);
  if (preset !== undefined && preset !== 'small' && preset !== 'paper') throw new TypeError(`IDM: option 'preset' must be 'small' or 'paper', got ${JSON.stringify(preset)}`);
  return preset === 'paper' ? { ...nativeOptions('IDM', PAPER, FLAG_LISTS), ...rest } : rest;
}

export class IDM extends Module {
  /** The file's metadata when loaded (training facts such as 'invdiff.trained'); empty otherwise. */
  metadata: Record<string, string> = {};

  constructor(options: IDMOptions = {}) {
    super('idm', idmOptions(options));
  }

  /** Sampling steps T of the unrolled chain. */
  get steps(): number {
    return (this.options.steps as number | undefined) ?? 3;
  }

  /** Images must have height and width that are multiples of this (pad them otherwise). */
  get sizeMultiple(): number {
    return this.info.sizeMultiple!;
  }

  /** x̂ for measurements y = A x: N×C×H×W with the operator's image shape. Differentiable (for training). */
  reconstruct(A: Operator, y: Tensor): Tensor {
    return fromHandle(native.modelDenoise(this.handle, undefined, undefined, A.handle, th(y)));
  }
  reconstructAsync(A: Operator, y: Tensor): Promise<Tensor> {
    return native['modelDenoise$async'](this.handle, undefined, undefined, A.handle, th(y)).then(fromHandle);
  }

  /**
   * A shipped checkpoint (scripts/train-idm.js): scrambled block CS at 10, 30 or 50%, or 'inpaint90' (90% of
   * the pixels missing). variant 'prior': fine-tuned from the shipped prior (2.9M parameters; in a clone, not in
   * the npm package); 'small': the 153k-parameter network trained from scratch (in the package; CS only).
   * Default: 'prior' where its file is present (a clone; as good at 10%, better at 30 and 50% (1.2 and 4.9 dB on Set11): README "IDM"),
   * else 'small'.
   */
  static pretrained(task: 10 | 30 | 50 | 'inpaint90', options: { variant?: 'prior' | 'small' } = {}): IDM {
    const owner = 'IDM.pretrained';
    checkOptions(owner, options, ['variant']);
    const cs = task === 10 || task === 30 || task === 50;
    if (!cs && task !== 'inpaint90') throw new RangeError(`${owner}: argument 'task' must be 10, 30 or 50 (block CS, %) or 'inpaint90', got ${JSON.stringify(task)}`);
    const { variant } = options;
    if (variant !== undefined && variant !== 'prior' && variant !== 'small') throw new RangeError(`${owner}: option 'variant' must be 'prior' or 'small', got ${JSON.stringify(variant)}`);
    const tuned: ShippedName = cs ? `idm-prior-cs${task}` : 'idm-prior-inpaint90';
    if (variant === 'small' && !cs) throw new RangeError(`${owner}: there is no small network for 'inpaint90'; only variant 'prior'`);
    const small = variant === 'small' || (variant === undefined && cs && !fs.existsSync(shippedPath(tuned)));
    return IDM.load(shippedFile(small ? `idm-cs${task}` : tuned, owner));
  }

  static load(path: string): IDM {
    return loadModel(path, 'idm', (o) => new IDM(o as IDMOptions), 'IDM');
  }

  /**
   * An IDM initialised from a local Stable Diffusion 1.5 U-Net in diffusers naming (for example
   * `unet/diffusion_pytorch_model.safetensors`), as the paper fine-tunes it. Nothing is downloaded. SD layers
   * IDM prunes (time embedding, cross-attention, mid block, outer scales) are ignored; IDM's own additions
   * keep their initial values. Throws naming any layer the file lacks or holds in another shape.
   */
  static fromStableDiffusion(path: string, options: IDMOptions = {}): IDM {
    const model = new IDM({ preset: 'paper', ...options });
    const { tensors } = loadSafetensors(path);
    try {
      const levels = (model.options.multipliers as number[]).length;
      initialise(model, tensors, (name) => stableDiffusionName(name, levels), `IDM.fromStableDiffusion: '${path}'`);
      return model;
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  }

  /**
   * An IDM initialised from a diffusion prior of the project (an `Unconditional` U-Net, or the path of one),
   * as the paper initialises from SD-1.5: the same configuration and weights, with the prior's noise embedding
   * and EDM preconditioning fed the chain's own noise levels; the mid block pruned (as the paper prunes SD's);
   * the injectors start at zero and the couplings and schedule are IDM's own. Throws naming what does not fit.
   */
  static fromPrior(prior: Unconditional | string, options: IDMFromPriorOptions = {}): IDM {
    const owner = 'IDM.fromPrior';
    for (const key of Object.keys(options))
      if (!FROM_PRIOR_OPTIONS.includes(key))
        throw new TypeError(`${owner}: option '${key}' comes from the prior or does not apply; the options are ${FROM_PRIOR_OPTIONS.join(', ')}`);
    const source = typeof prior === 'string' ? Unconditional.load(prior) : prior;
    if (!(source instanceof Unconditional)) throw new TypeError(`${owner}: argument 'prior' must be an Unconditional model or the path of one`);
    try {
      const facts = source.info;
      if (facts.architecture !== 'unet') throw new Error(`${owner}: the prior must be a U-Net (architecture 'unet'), this one is '${String(facts.architecture)}'`);
      if (facts.patch !== 2) throw new Error(`${owner}: the prior must patch its input by 2 as IDM's U-Net does, this one by ${String(facts.patch)}`);
      const model = new IDM({
        imageChannels: facts.imageChannels, channels: facts.channels, multipliers: facts.multipliers, blocks: facts.blocks,
        attention: facts.attention, heads: facts.heads, groups: facts.groups, dropout: facts.dropout, sigmaData: facts.sigmaData,
        skips: 'block', parameterization: 'edm', ...options,
      });
      const tensors = Object.fromEntries(source.namedParameters());
      try {
        initialise(model, tensors, (name) => (isIdmAddition(name) ? undefined : name.slice('unet.'.length)), `${owner}: the prior`, /^mid_block\./);
      } finally {
        for (const t of Object.values(tensors)) t.dispose();
      }
      return model;
    } finally {
      if (source !== prior) source.dispose();
    }
  }
}

/** IDM's own parameters, which no pretrained network has: the chain's, the injectors, the couplings. */
function isIdmAddition(name: string): boolean {
  return !name.startsWith('unet.') || /(^|\.)(injectors|coupling_logits)\.|\.(stream_scale|skip_merge)$/.test(name);
}

/** The SD-1.5 diffusers name of one of our U-Net parameters, or undefined for IDM's own additions. */
function stableDiffusionName(name: string, levels: number): string | undefined {
  if (isIdmAddition(name)) return undefined;
  // SD has four up blocks; the pruned U-Net keeps the last `levels` of them.
  return name.slice('unet.'.length).replace(/^up_blocks\.(\d+)\./, (_, i: string) => `up_blocks.${Number(i) + 4 - levels}.`);
}

/**
 * Loads into `model` every parameter `sourceName` maps to a tensor of `tensors` (IDM's own additions keep
 * their initial values). Throws, disposing the model, naming what is missing or shaped otherwise, and, given
 * `pruned`, any source tensor neither used nor pruned (a network of another configuration).
 */
function initialise(model: IDM, tensors: Record<string, Tensor>, sourceName: (name: string) => string | undefined, what: string, pruned?: RegExp): void {
  const problems: string[] = [];
  const used = new Set<string>();
  try {
    scope(() => {
      const state = model.namedParameters().map(([name, current]): [string, Tensor] => {
        const from = sourceName(name);
        if (from === undefined) return [name, current];
        const found = tensors[from];
        used.add(from);
        if (!found) problems.push(`'${from}' is missing`);
        else if (found.shape.join() !== current.shape.join()) problems.push(`'${from}' has shape [${found.shape}], IDM needs [${current.shape}]`);
        else return [name, found.to({ dtype: current.dtype })];
        return [name, current];
      });
      if (pruned) for (const name of Object.keys(tensors)) if (!used.has(name) && !pruned.test(name)) problems.push(`'${name}' has no place in IDM`);
      if (problems.length)
        throw new Error(`${what} does not fit (${problems.length} problems): ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}`);
      model.loadStateDict(state);
    });
  } catch (e) {
    model.dispose();
    throw e;
  }
}
