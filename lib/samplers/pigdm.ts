// ΠGDM (Song et al. 2023; papers.md §3): a deterministic Euler/DDIM step plus g = (∂x̂₀/∂x)ᵀ r, with the
// pseudo-inverse residual r = A⁺(y − A x̂₀) held constant (a VJP through the denoiser). With noise σ_y, the
// (r_t² A Aᵀ + σ_y² I)⁻¹ weighting becomes the scalar r_t²/(r_t² + σ_y²) under equal singular values, with
// r_t² = σ²/(1 + σ²). N NFEs and N VJPs.
import { combine } from '../generated/ops';
import type { Tensor } from '../tensor';
import { measurement, noise, Resolved } from './common';
import type { SamplerOptions, SamplerProgram } from './contract';
import { defineSampler } from './driver';
import type { Held } from './held';

export interface PigdmOptions extends SamplerOptions {
  /** Multiplies the guidance g. Default 1. */
  guidance?: number;
}

function* program(r: Resolved & PigdmOptions, held: Held): SamplerProgram {
  const { sigmas, steps } = r;
  const { A, y } = measurement('pigdm', r);
  const scale = r.guidance ?? 1;
  const sigmaY = A.noiseStd;
  const x = held.slot(noise(r, 0, sigmas[0]));
  for (let i = 0; i < steps; i++) {
    const sigma = sigmas[i];
    const next = sigmas[i + 1];
    const rt2 = (sigma * sigma) / (1 + sigma * sigma);
    const weight = sigmaY > 0 ? rt2 / (rt2 + sigmaY * sigmaY) : 1;
    // ⟨stopgrad(r), x̂₀⟩: its gradient with respect to x is (∂x̂₀/∂x)ᵀ r.
    const guidanceObjective = (x0: Tensor) => {
      const residual = A.pinv(y.sub(A.forward(x0.detach()))).mul(weight);
      return x0.mul(residual).sum();
    };
    const { x0, grad } = yield { x: x.value, sigma, vjp: guidanceObjective };
    r.onStep?.({ step: i, steps, sigma, x0 });
    const h = (next - sigma) / sigma;
    x.set(combine([x.value, x0, grad!], [1 + h, -h, scale]));
  }
  return x.release();
}

export const { sync: pigdm, async: pigdmAsync, own: pigdmOptionNames } = defineSampler<PigdmOptions>('pigdm', 100, ['guidance'], program);
