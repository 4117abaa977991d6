// IDM (Invertible Diffusion Models, papers.md §1): a few-step DDIM sampler with data consistency, unrolled
// into one reconstruction network and trained end to end; reversible at the step and block level.
import { Module, ModuleOptions } from '../module';
import type { Operator } from '../operators/operator';
import { loadSafetensors } from '../safetensors';
import { loadModel } from './load';
import { nativeOptions } from './options';
import { shippedFile } from './shipped';
import { fromHandle, native, scope, th, type Tensor } from '../tensor';


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
  /** 'small' (the defaults, sized for a CPU) or 'paper': §1.4's pruned SD-1.5 U-Net shapes. Explicit options override it. */
  preset?: 'small' | 'paper';
}

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

/** The SD-1.5 diffusers name of one of our U-Net parameters, or undefined for IDM's own additions. */
function stableDiffusionName(name: string, levels: number): string | undefined {
  if (!name.startsWith('unet.')) return undefined;
  const rest = name.slice('unet.'.length);
  if (/(^|\.)(injectors|coupling_logits)\.|\.(stream_scale|skip_merge)$/.test(rest)) return undefined;
  // SD has four up blocks; the pruned U-Net keeps the last `levels` of them.
  return rest.replace(/^up_blocks\.(\d+)\./, (_, i: string) => `up_blocks.${Number(i) + 4 - levels}.`);
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

  /** A checkpoint shipped with the package: scrambled block CS at 10, 30 or 50% (see scripts/train-idm.js). */
  static pretrained(ratioPercent: 10 | 30 | 50): IDM {
    if (![10, 30, 50].includes(ratioPercent)) throw new RangeError(`IDM.pretrained: the shipped ratios are 10, 30 and 50 (%), got ${ratioPercent}`);
    return IDM.load(shippedFile(`idm-cs${ratioPercent}`, 'IDM.pretrained'));
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
      scope(() => model.loadStateDict(stableDiffusionState(model, tensors, path)));
      return model;
    } catch (e) {
      model.dispose();
      throw e;
    } finally {
      for (const t of Object.values(tensors)) t.dispose();
    }
  }
}

/** The model's parameters with every SD counterpart taken from `tensors`. */
function stableDiffusionState(model: IDM, tensors: Record<string, Tensor>, path: string): [string, Tensor][] {
  const levels = (model.options.multipliers as number[]).length;
  const problems: string[] = [];
  const state = model.namedParameters().map(([name, current]): [string, Tensor] => {
    const sd = stableDiffusionName(name, levels);
    if (sd === undefined) return [name, current];
    const found = tensors[sd];
    if (!found) problems.push(`'${sd}' is missing`);
    else if (found.shape.join() !== current.shape.join()) problems.push(`'${sd}' has shape [${found.shape}], IDM needs [${current.shape}]`);
    else return [name, found.to({ dtype: current.dtype })];
    return [name, current];
  });
  if (problems.length)
    throw new Error(`IDM.fromStableDiffusion: '${path}' does not fit (${problems.length} problems): ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}`);
  return state;
}
