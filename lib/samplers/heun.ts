// EDM's Heun sampler (Karras et al. 2022, Algorithm 2; papers.md §4.1): 2N − 1 NFEs, optional churn.
import { defineSampler, SamplerOptions, SamplerProgram } from './driver';
import { Held, noise, Resolved } from './common';

export interface HeunOptions extends SamplerOptions {
  /** S_churn: raises σ_i to σ̂ = σ_i(1 + γ), γ = min(S_churn/N, √2 − 1), adding fresh noise. Default 0. */
  churn?: number;
}

function* program(r: Resolved & HeunOptions, held: Held): SamplerProgram {
  const { sigmas, steps } = r;
  const gamma = Math.min((r.churn ?? 0) / steps, Math.SQRT2 - 1);
  let x = held.take(noise(r, 0).mul(sigmas[0]));
  for (let i = 0; i < steps; i++) {
    const sigma = sigmas[i];
    const next = sigmas[i + 1];
    const tHat = sigma * (1 + gamma);
    if (gamma > 0) x = held.replace(x, x.add(noise(r, i + 1).mul(Math.sqrt(tHat * tHat - sigma * sigma))));
    const { x0 } = yield { x, sigma: tHat };
    r.onStep?.({ step: i, steps, sigma: tHat, x0 });
    const dCur = held.take(x.sub(x0).div(tHat));
    const xNext = x.add(dCur.mul(next - tHat));
    if (next > 0) {
      const xPrime = held.take(xNext);
      const { x0: x0Prime } = yield { x: xPrime, sigma: next };
      const dPrime = xPrime.sub(x0Prime).div(next);
      x = held.replace(x, x.add(dCur.add(dPrime).mul((next - tHat) / 2)));
      held.drop(xPrime);
    } else {
      x = held.replace(x, xNext);
    }
    held.drop(dCur);
  }
  return held.release(x);
}

export const { sync: heun, async: heunAsync } = defineSampler<HeunOptions>('heun', 18, program);
