// DPS (Chung et al. 2023; papers.md §3): an ancestral step plus a gradient step on ‖y − A x̂₀(x)‖ taken by a
// vector–Jacobian product through the denoiser. step: 'invfussion' uses ζ (default 0.5) on the gradient of
// the un-squared norm; 'original' uses ζ_i = ζ/‖y − A x̂₀‖ on the squared norm. N NFEs and N VJPs.
import { defineSampler, SamplerOptions, SamplerProgram } from './driver';
import { Held, measurement, noise, Resolved } from './common';
import type { Tensor } from '../tensor';

export interface DpsOptions extends SamplerOptions {
  zeta?: number;
  step?: 'invfussion' | 'original';
}

function* program(r: Resolved & DpsOptions, held: Held): SamplerProgram {
  const { sigmas, steps } = r;
  const { A, y } = measurement('dps', r);
  const zeta = r.zeta ?? 0.5;
  if (!(zeta >= 0)) throw new RangeError(`dps: option 'zeta' must be non-negative, got ${zeta}`);
  const form = r.step ?? 'invfussion';
  if (form !== 'invfussion' && form !== 'original') throw new RangeError(`dps: option 'step' must be 'invfussion' or 'original', got '${form}'`);
  // Per-sample residual norms, summed: each sample's gradient is its own.
  const residualNorm = (x0: Tensor) => y.sub(A.forward(x0)).flatten({ startDim: 1 }).norm({ dim: 1 });
  const objective = form === 'invfussion' ? (x0: Tensor) => residualNorm(x0).sum() : (x0: Tensor) => residualNorm(x0).square().sum();
  let x = held.take(noise(r, 0).mul(sigmas[0]));
  for (let i = 0; i < steps; i++) {
    const sigma = sigmas[i];
    const next = sigmas[i + 1];
    const { x0, grad } = yield { x, sigma, vjp: objective };
    r.onStep?.({ step: i, steps, sigma, x0 });
    const eps = x.sub(x0).div(sigma);
    const c = (next * Math.sqrt(sigma * sigma - next * next)) / sigma;
    let out = x0.add(eps.mul(Math.sqrt(Math.max(0, next * next - c * c))));
    if (c > 0) out = out.add(noise(r, i + 1).mul(c));
    let weight: Tensor | number = zeta;
    if (form === 'original') weight = residualNorm(x0).reshape([-1, 1, 1, 1]).pow(-1).mul(zeta);
    x = held.replace(x, out.sub(grad!.mul(weight)));
  }
  return held.release(x);
}

export const { sync: dps, async: dpsAsync } = defineSampler<DpsOptions>('dps', 1000, program);
