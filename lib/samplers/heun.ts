// EDM's Heun sampler (Karras et al. 2022, Algorithm 2; papers.md §4.1): 2N − 1 NFEs, optional churn.
// The schedule is EDM's t_i = σ_i.
import { combine } from '../generated/ops';
import { noise, noiseSeed, Resolved } from './common';
import type { SamplerOptions, SamplerProgram } from './contract';
import { defineSampler } from './driver';
import type { Held } from './held';

export interface HeunOptions extends SamplerOptions {
  /** S_churn: raises σ_i to σ̂ = σ_i(1 + γ), γ = min(S_churn/N, √2 − 1), adding fresh noise. Default 0. */
  churn?: number;
}

function* program(r: Resolved & HeunOptions, held: Held): SamplerProgram {
  const { sigmas: t, steps: N } = r;
  const gamma = Math.min((r.churn ?? 0) / N, Math.SQRT2 - 1);
  const x = held.slot(noise(r, 0, t[0])); // x_0 ~ N(0, t_0² I)
  const d = held.slot();
  const xNext = held.slot();
  for (let i = 0; i < N; i++) {
    const tHat = t[i] * (1 + gamma);
    // x̂_i = x_i + √(t̂_i² − t_i²)·ε_i
    if (gamma > 0) x.set(combine([x.value], [1], { noise: Math.sqrt(tHat * tHat - t[i] * t[i]), seed: noiseSeed(r, i + 1) }));
    const { x0 } = yield { x: x.value, sigma: tHat };
    r.onStep?.({ step: i, steps: N, sigma: tHat, x0 });
    const h = t[i + 1] - tHat;
    d.set(combine([x.value, x0], [1 / tHat, -1 / tHat])); // d_i = (x̂_i − D(x̂_i; t̂_i))/t̂_i
    xNext.set(combine([x.value, d.value], [1, h])); // x_{i+1} = x̂_i + (t_{i+1} − t̂_i)·d_i
    if (t[i + 1] > 0) {
      const { x0: x0Next } = yield { x: xNext.value, sigma: t[i + 1] };
      // x_{i+1} = x̂_i + h·(d_i + d′_i)/2 with d′_i = (x_{i+1} − D(x_{i+1}; t_{i+1}))/t_{i+1}, in one combination.
      xNext.set(combine([x.value, d.value, xNext.value, x0Next], [1, h / 2, h / (2 * t[i + 1]), -h / (2 * t[i + 1])]));
    }
    x.set(xNext.release());
  }
  return x.release();
}

export const { sync: heun, async: heunAsync, own: heunOptionNames } = defineSampler<HeunOptions>('heun', 18, ['churn'], program);
