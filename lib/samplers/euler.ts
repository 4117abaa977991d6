// Euler on the probability-flow ODE: x ← x + (σ_{i+1} − σ_i)(x − x̂₀)/σ_i; N NFEs.
import type { Denoiser } from './denoiser';
import { runAsync, runSync, SampleResult, SamplerOptions, SamplerProgram } from './driver';
import { Held, noise, Resolved, resolve } from './common';

function* program(r: Resolved): SamplerProgram {
  const held = new Held();
  try {
    const { sigmas, steps } = r;
    let x = held.take(noise(r, 0).mul(sigmas[0]));
    for (let i = 0; i < steps; i++) {
      const { x0 } = yield { x, sigma: sigmas[i] };
      r.onStep?.({ step: i, steps, sigma: sigmas[i], x0 });
      x = held.replace(x, x.add(x.sub(x0).mul((sigmas[i + 1] - sigmas[i]) / sigmas[i])));
    }
    return held.release(x);
  } finally {
    held.disposeAll();
  }
}

export function euler(denoiser: Denoiser, options: SamplerOptions): SampleResult {
  return runSync(program(resolve('euler', options, 50)), denoiser, options);
}
export function eulerAsync(denoiser: Denoiser, options: SamplerOptions): Promise<SampleResult> {
  return runAsync(program(resolve('eulerAsync', options, 50)), denoiser, options);
}
