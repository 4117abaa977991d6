// InvFussion (papers.md §2): an HDiT denoiser D(x; σ, A, y) that reads the degradation operator itself.
// Every transformer layer of the levels with Feature Degradation layers sees its input degraded by A, joined
// with y, mixed and mapped back by A⁺ (ỹ), through joint attention; the input also carries A⁺y. One model
// serves many operators: a posterior sampler under any sampler, and a one-step MMSE estimator (mmse).
import { DiffusionModel, type HDiTOptions } from './diffusion';
import { loadModel } from './load';
import { shippedFile } from './shipped';

export type InvFussionOptions = Omit<HDiTOptions, 'architecture'>;

export class InvFussion extends DiffusionModel {
  constructor(options: InvFussionOptions = {}) {
    super('invfussion', 'InvFussion', options);
  }
  /** The cpu32 checkpoint shipped with the package (32×32 grayscale; scripts/train-invfussion.js). */
  static pretrained(): InvFussion {
    return InvFussion.load(shippedFile('invfussion-cpu32', 'InvFussion.pretrained'));
  }
  static load(path: string): InvFussion {
    return loadModel(path, 'invfussion', (o) => new InvFussion(o as InvFussionOptions), 'InvFussion');
  }
}
