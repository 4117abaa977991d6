// Optimizers over parameter lists: LibTorch's Adam, AdamW and SGD.
import { OptimizerMethods } from './generated/objects';
import { native, type Tensor } from './tensor';

const handles = new FinalizationRegistry<number>((h) => native.optimizerDispose(h));

export class Optimizer extends OptimizerMethods {
  readonly handle: number;
  constructor(readonly kind: 'adam' | 'adamw' | 'sgd', readonly params: Tensor[], options: Record<string, number | boolean> = {}) {
    super();
    this.handle = native.optimizerCreate(kind, params.map((p) => p.h), options);
    handles.register(this, this.handle, this);
  }
  get lr(): number {
    return native.optimizerLr(this.handle);
  }
  set lr(value: number) {
    native.optimizerSetLr(this.handle, value);
  }
  /** Scales the gradients so their joint norm is at most maxNorm; returns the norm before clipping. */
  clipGradNorm(maxNorm: number, normType = 2): number {
    return clipGradNorm(this.params, maxNorm, normType);
  }
  dispose(): void {
    handles.unregister(this);
    native.optimizerDispose(this.handle);
  }
}

export interface AdamOptions {
  lr?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  amsgrad?: boolean;
}

export class Adam extends Optimizer {
  constructor(params: Tensor[], options: AdamOptions = {}) {
    super('adam', params, { ...options });
  }
}

/** Adam with decoupled weight decay (default 0.01). */
export class AdamW extends Optimizer {
  constructor(params: Tensor[], options: AdamOptions = {}) {
    super('adamw', params, { ...options });
  }
}

export class SGD extends Optimizer {
  constructor(params: Tensor[], options: { lr?: number; momentum?: number; weightDecay?: number; nesterov?: boolean } = {}) {
    super('sgd', params, { ...options });
  }
}

export function clipGradNorm(params: Tensor[], maxNorm: number, normType = 2): number {
  return native.clipGradNorm(params.map((p) => p.h), maxNorm, normType);
}
