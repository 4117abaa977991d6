// Euler on the probability-flow ODE: x ← x + (σ_{i+1} − σ_i)(x − x̂₀)/σ_i; N NFEs.
import { combine } from '../generated/ops';
import { noise, Resolved } from './common';
import type { SamplerOptions, SamplerProgram } from './contract';
import { defineSampler } from './driver';
import type { Held } from './held';

function* program(r: Resolved, held: Held): SamplerProgram {
  const { sigmas, steps } = r;
  const x = held.slot(noise(r, 0, sigmas[0]));
  for (let i = 0; i < steps; i++) {
    const { x0 } = yield { x: x.value, sigma: sigmas[i] };
    r.onStep?.({ step: i, steps, sigma: sigmas[i], x0 });
    const h = (sigmas[i + 1] - sigmas[i]) / sigmas[i];
    x.set(combine([x.value, x0], [1 + h, -h]));
  }
  return x.release();
}

export const { sync: euler, async: eulerAsync, own: eulerOptionNames } = defineSampler<SamplerOptions>('euler', 50, [], program);
