// DDNM (Wang et al. 2023; papers.md §3): range–null projection of x̂₀ with the operator's A⁺, then DDIM-style
// re-noising. Noisy measurements (noiseStd σ_y > 0) follow DDNM⁺: λ = σ_{i+1}/σ_y and γ = 0 once
// σ_{i+1} < σ_y, otherwise γ = √(σ_{i+1}² − σ_y²). `mixing` chooses how the noise mixes: 'ddnm' (√(1−η²), η),
// the paper's; 'invfussion' ((1−η), η), InvFussion's code; 'ddim', the variance-exact DDIM-η step.
import { combine } from '../generated/ops';
import { measurement, noise, noiseSeed, Resolved } from './common';
import { checkEta } from './ddim';
import type { SamplerOptions, SamplerProgram } from './contract';
import { defineSampler } from './driver';
import type { Held } from './held';

export interface DdnmOptions extends SamplerOptions {
  eta?: number;
  mixing?: 'ddnm' | 'invfussion' | 'ddim';
}

function* program(r: Resolved & DdnmOptions, held: Held): SamplerProgram {
  const { sigmas, steps } = r;
  const { A, y } = measurement('ddnm', r);
  const eta = checkEta('ddnm', r.eta ?? 0.85);
  const mixing = r.mixing ?? 'ddnm';
  if (!['ddnm', 'invfussion', 'ddim'].includes(mixing)) throw new RangeError(`ddnm: option 'mixing' must be 'ddnm', 'invfussion' or 'ddim', got '${mixing}'`);
  const sigmaY = A.noiseStd;
  const x = held.slot(noise(r, 0, sigmas[0]));
  for (let i = 0; i < steps; i++) {
    const sigma = sigmas[i];
    const next = sigmas[i + 1];
    const { x0 } = yield { x: x.value, sigma };
    const lambda = sigmaY > 0 && next < sigmaY ? next / sigmaY : 1;
    const gamma = sigmaY > 0 ? (next < sigmaY ? 0 : Math.sqrt(next * next - sigmaY * sigmaY)) : next;
    // x̂₀ + λ A⁺(y − A x̂₀); with λ = 1 that is the operator's own projection, one native call.
    const x0Prime = lambda === 1 ? A.project(x0, y) : combine([x0, A.pinv(y.sub(A.forward(x0)))], [1, lambda]);
    r.onStep?.({ step: i, steps, sigma, x0: x0Prime });
    // x̂₀′ + a·ε̂ + c·z with ε̂ = (x − x̂₀)/σ, as one fused combination.
    let a = 0;
    let c = 0;
    if (gamma > 0 && mixing === 'ddim') {
      c = eta * gamma * Math.sqrt(Math.max(0, 1 - (gamma * gamma) / (sigma * sigma)));
      a = Math.sqrt(gamma * gamma - c * c);
    } else if (gamma > 0) {
      a = (mixing === 'ddnm' ? Math.sqrt(1 - eta * eta) : 1 - eta) * gamma;
      c = eta * gamma;
    }
    x.set(combine([x0Prime, x.value, x0], [1, a / sigma, -a / sigma], { noise: c, seed: noiseSeed(r, i + 1) }));
  }
  return x.release();
}

export const { sync: ddnm, async: ddnmAsync, own: ddnmOptionNames } = defineSampler<DdnmOptions>('ddnm', 100, ['eta', 'mixing'], program);
