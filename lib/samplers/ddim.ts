// DDIM in σ (VE) form: x_{i+1} = x̂₀ + √(σ_{i+1}² − c²)·ε̂ + c·z with c = η·σ_{i+1}·√(1 − σ_{i+1}²/σ_i²);
// η = 0 is the deterministic ODE step (the same as Euler), η = 1 the ancestral sampler. N NFEs.
import { combine } from '../generated/ops';
import { noise, noiseSeed, Resolved } from './common';
import type { SamplerOptions, SamplerProgram } from './contract';
import { defineSampler } from './driver';
import type { Held } from './held';

export interface DdimOptions extends SamplerOptions {
  eta?: number;
}

export function checkEta(name: string, eta: number): number {
  if (!(eta >= 0 && eta <= 1)) throw new RangeError(`${name}: option 'eta' must lie in [0, 1], got ${eta}`);
  return eta;
}

function* program(r: Resolved & DdimOptions, held: Held): SamplerProgram {
  const { sigmas, steps } = r;
  const eta = checkEta('ddim', r.eta ?? 0);
  const x = held.slot(noise(r, 0, sigmas[0]));
  for (let i = 0; i < steps; i++) {
    const sigma = sigmas[i];
    const next = sigmas[i + 1];
    const { x0 } = yield { x: x.value, sigma };
    r.onStep?.({ step: i, steps, sigma, x0 });
    const c = eta * next * Math.sqrt(Math.max(0, 1 - (next * next) / (sigma * sigma)));
    // x̂₀ + k·ε̂ + c·z with ε̂ = (x − x̂₀)/σ, as one fused combination.
    const k = Math.sqrt(Math.max(0, next * next - c * c)) / sigma;
    x.set(combine([x0, x.value], [1 - k, k], { noise: c, seed: noiseSeed(r, i + 1) }));
  }
  return x.release();
}

export const { sync: ddim, async: ddimAsync, own: ddimOptionNames } = defineSampler<DdimOptions>('ddim', 50, ['eta'], program);
