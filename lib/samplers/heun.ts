// EDM's Heun sampler (Karras et al. 2022, Algorithm 2; papers.md §4.1): 2N − 1 NFEs, optional churn.
import { defineSampler, SamplerOptions, SamplerProgram } from './driver';
import { combine } from '../generated/ops';
import { Held, noise, noiseSeed, Resolved } from './common';

export interface HeunOptions extends SamplerOptions {
  /** S_churn: raises σ_i to σ̂ = σ_i(1 + γ), γ = min(S_churn/N, √2 − 1), adding fresh noise. Default 0. */
  churn?: number;
}

function* program(r: Resolved & HeunOptions, held: Held): SamplerProgram {
  const { sigmas, steps } = r;
  const gamma = Math.min((r.churn ?? 0) / steps, Math.SQRT2 - 1);
  let x = held.take(noise(r, 0, sigmas[0]));
  for (let i = 0; i < steps; i++) {
    const sigma = sigmas[i];
    const next = sigmas[i + 1];
    const tHat = sigma * (1 + gamma);
    if (gamma > 0) x = held.replace(x, combine([x], [1], { noise: Math.sqrt(tHat * tHat - sigma * sigma), seed: noiseSeed(r, i + 1) }));
    const { x0 } = yield { x, sigma: tHat };
    r.onStep?.({ step: i, steps, sigma: tHat, x0 });
    const h = next - tHat;
    const dCur = held.take(combine([x, x0], [1 / tHat, -1 / tHat]));
    const xNext = combine([x, dCur], [1, h]);
    if (next > 0) {
      const xPrime = held.take(xNext);
      const { x0: x0Prime } = yield { x: xPrime, sigma: next };
      // x + h·(d + d′)/2 with d′ = (x′ − x̂₀′)/σ_{i+1}.
      x = held.replace(x, combine([x, dCur, xPrime, x0Prime], [1, h / 2, h / (2 * next), -h / (2 * next)]));
      held.drop(xPrime);
    } else {
      x = held.replace(x, xNext);
    }
    held.drop(dCur);
  }
  return held.release(x);
}

export const { sync: heun, async: heunAsync } = defineSampler<HeunOptions>('heun', 18, program);
