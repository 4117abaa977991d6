// DDIM in σ (VE) form: x_{i+1} = x̂₀ + √(σ_{i+1}² − c²)·ε̂ + c·z with c = η·σ_{i+1}·√(1 − σ_{i+1}²/σ_i²);
// η = 0 is the deterministic ODE step (the same as Euler), η = 1 the ancestral sampler. N NFEs.
import { defineSampler, SamplerOptions, SamplerProgram } from './driver';
import { Held, noise, Resolved } from './common';

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
  let x = held.take(noise(r, 0).mul(sigmas[0]));
  for (let i = 0; i < steps; i++) {
    const sigma = sigmas[i];
    const next = sigmas[i + 1];
    const { x0 } = yield { x, sigma };
    r.onStep?.({ step: i, steps, sigma, x0 });
    const eps = x.sub(x0).div(sigma);
    const c = eta * next * Math.sqrt(Math.max(0, 1 - (next * next) / (sigma * sigma)));
    let out = x0.add(eps.mul(Math.sqrt(Math.max(0, next * next - c * c))));
    if (c > 0) out = out.add(noise(r, i + 1).mul(c));
    x = held.replace(x, out);
  }
  return held.release(x);
}

export const { sync: ddim, async: ddimAsync } = defineSampler<DdimOptions>('ddim', 50, program);
