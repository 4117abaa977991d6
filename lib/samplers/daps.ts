// DAPS (Zhang et al. 2024; papers.md §3): for each annealing level σ_i, x̂₀ from a few Euler steps of the
// probability-flow ODE down to σ = 0.01; Langevin steps on exp(−‖A x₀ − y‖²/(2τ²) − ‖x₀ − x̂₀‖²/(2σ_i²)),
// τ = max(σ_y, 0.01), with lr annealed by (1 + (i/N)(0.01 − 1)) and capped for stability (natively, at
// 1/(‖A‖²/τ² + 1/σ_i²): strided blur's ‖A‖² is about 13); then
// x_{i+1} = x₀ + σ_{i+1} z. The data
// gradient uses Aᵀ directly (no network gradients), and the Langevin chain runs natively (the langevin kernel).
// N·odeSteps NFEs.
import { combine, langevin, langevinAsync } from '../generated/ops';
import { measurement, noise, noiseSeed, Resolved } from './common';
import type { SamplerOptions, SamplerProgram } from './contract';
import { defineSampler } from './driver';
import type { Held } from './held';
import { edmSigmas } from './schedule';

export interface DapsOptions extends SamplerOptions {
  odeSteps?: number;
  langevinSteps?: number;
  lr?: number;
}

function* program(r: Resolved & DapsOptions, held: Held): SamplerProgram {
  const { sigmas, steps } = r;
  const { A, y } = measurement('daps', r);
  const odeSteps = r.odeSteps ?? 5;
  const langevinSteps = r.langevinSteps ?? 100;
  const lr0 = r.lr ?? 1e-4;
  if (!Number.isInteger(odeSteps) || odeSteps < 1 || !Number.isInteger(langevinSteps) || langevinSteps < 0 || !(lr0 > 0)) {
    throw new RangeError('daps: options need odeSteps >= 1, langevinSteps >= 0 (integers) and lr > 0');
  }
  const tau = Math.max(A.noiseStd, 0.01);
  const x = held.slot(noise(r, 0, sigmas[0]));
  const x0hat = held.slot();
  for (let i = 0; i < steps; i++) {
    const sigma = sigmas[i];
    // x̂₀(x_i): Euler on the PF-ODE from σ_i down to 0.01 (x follows it; x_i is not needed again), and the
    // last denoising is x̂₀.
    const ode = sigma > 0.01 ? edmSigmas({ steps: odeSteps, sigmaMax: sigma, sigmaMin: 0.01 }).slice(0, -1) : [sigma];
    for (let k = 0; k < ode.length; k++) {
      const { x0: d } = yield { x: x.value, sigma: ode[k] };
      if (k === ode.length - 1) {
        x0hat.set(d.clone()); // the answer is freed before the Langevin chain runs
      } else {
        const h = (ode[k + 1] - ode[k]) / ode[k];
        x.set(combine([x.value, d], [1 + h, -h]));
      }
    }
    r.onStep?.({ step: i, steps, sigma, x0: x0hat.value });
    // Langevin on x₀ around x̂₀, pulled towards A x₀ = y, at the annealed rate (the kernel caps it).
    const lr = lr0 * (1 + (i / steps) * (0.01 - 1));
    const chain = { center: x0hat.value, y, lr, priorStd: sigma, dataStd: tau, steps: langevinSteps, seed: noiseSeed(r, 1000 * (i + 1)) };
    // Handed to the driver, so dapsAsync runs the chain off the event loop.
    const { x0: x0y } = yield { work: () => langevin(A, x0hat.value, chain), workAsync: () => langevinAsync(A, x0hat.value, chain) };
    // x_{i+1} = x₀ + σ_{i+1}·z
    x.set(combine([x0y], [1], { noise: sigmas[i + 1], seed: noiseSeed(r, 1000 * (i + 1) + 999) }));
  }
  return x.release(); // σ_N = 0: the last Langevin sample
}

export const { sync: daps, async: dapsAsync, own: dapsOptionNames } = defineSampler<DapsOptions>('daps', 200, ['odeSteps', 'langevinSteps', 'lr'], program);
