// Classifier-free guidance (Ho & Salimans 2022) as an adapter: it turns a conditional denoiser into another
// denoiser, so every sampler runs it unchanged.
import type { Denoiser } from './contract';

/**
 * Classifier-free guidance as a denoiser: D_w = D_uncond + w·(D_cond − D_uncond), where the unconditional
 * call sees no operator and no measurement. Costs two NFEs per call.
 */
export function classifierFreeGuidance(denoiser: Denoiser, weight: number): Denoiser {
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
