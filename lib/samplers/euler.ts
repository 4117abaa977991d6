// Euler on the probability-flow ODE: x ← x + (σ_{i+1} − σ_i)(x − x̂₀)/σ_i; N NFEs.
import { defineSampler, SamplerOptions, SamplerProgram } from './driver';
import { Held, noise, Resolved } from './common';

function* program(r: Resolved, held: Held): SamplerProgram {
  const { sigmas, steps } = r;
  let x = held.take(noise(r, 0).mul(sigmas[0]));
  for (let i = 0; i < steps; i++) {
    const { x0 } = yield { x, sigma: sigmas[i] };
    r.onStep?.({ step: i, steps, sigma: sigmas[i], x0 });
    x = held.replace(x, x.add(x.sub(x0).mul((sigmas[i + 1] - sigmas[i]) / sigmas[i])));
  }
  return held.release(x);
}

export const { sync: euler, async: eulerAsync } = defineSampler<SamplerOptions>('euler', 50, program);
