// ΠGDM (Song et al. 2023; papers.md §3): a deterministic Euler/DDIM step plus g = (∂x̂₀/∂x)ᵀ r, with the
// pseudo-inverse residual r = A⁺(y − A x̂₀) held constant (a VJP through the denoiser). With noise σ_y, the
// (r_t² A Aᵀ + σ_y² I)⁻¹ weighting becomes the scalar r_t²/(r_t² + σ_y²) under equal singular values, with
// r_t² = σ²/(1 + σ²). N NFEs and N VJPs.
import type { Denoiser } from './denoiser';
import { runAsync, runSync, SampleResult, SamplerOptions, SamplerProgram } from './driver';
import { Held, noise, Resolved, resolve } from './common';
import type { Tensor } from '../tensor';

export interface PigdmOptions extends SamplerOptions {
  /** Multiplies the guidance g. Default 1. */
  guidance?: number;
}

function* program(r: Resolved & PigdmOptions): SamplerProgram {
  const held = new Held();
  try {
    const { sigmas, steps } = r;
    const A = r.operator;
    const y = r.y;
    if (!A || !y) throw new TypeError('pigdm: options \'operator\' and \'y\' are required');
    const scale = r.guidance ?? 1;
    const sigmaY = A.noiseStd;
    let x = held.take(noise(r, 0).mul(sigmas[0]));
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
      const { x0, grad } = yield { x, sigma, vjp: guidanceObjective };
      r.onStep?.({ step: i, steps, sigma, x0 });
      const eps = x.sub(x0).div(sigma);
      x = held.replace(x, x.add(eps.mul(next - sigma)).add(grad!.mul(scale)));
    }
    return held.release(x);
  } finally {
    held.disposeAll();
  }
}

export function pigdm(denoiser: Denoiser, options: PigdmOptions): SampleResult {
  return runSync(program(resolve('pigdm', options, 100)), denoiser, options);
}
export function pigdmAsync(denoiser: Denoiser, options: PigdmOptions): Promise<SampleResult> {
  return runAsync(program(resolve('pigdmAsync', options, 100)), denoiser, options);
}
