// The one model contract samplers use: D(x_σ; σ, operator, y) → x̂₀ (EDM-preconditioned). Models implement
// it natively; plain TS objects can too.
import type { Operator } from '../operators/operator';
import type { Tensor } from '../tensor';

export interface DenoiseContext {
  operator?: Operator;
  y?: Tensor;
}

export interface Denoiser {
  denoise(x: Tensor, sigma: number, context: DenoiseContext): Tensor;
  /** Optional: the same off the event loop; async samplers use it when present. */
  denoiseAsync?(x: Tensor, sigma: number, context: DenoiseContext): Promise<Tensor>;
}

/**
 * Classifier-free guidance as a denoiser: D_w = D_uncond + w·(D_cond − D_uncond), where the unconditional
 * call sees no operator and no measurement. Costs two NFEs per call.
 */
export function classifierFreeGuidance(denoiser: Denoiser, weight: number): Denoiser & { nfePerCall: number } {
  if (!Number.isFinite(weight)) throw new RangeError(`classifierFreeGuidance: 'weight' must be a finite number, got ${weight}`);
  return {
    nfePerCall: 2,
    denoise(x, sigma, context) {
      const cond = denoiser.denoise(x, sigma, context);
      const uncond = denoiser.denoise(x, sigma, {});
      return uncond.add(cond.sub(uncond).mul(weight));
    },
  };
}
