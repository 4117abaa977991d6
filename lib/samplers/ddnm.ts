// DDNM (Wang et al. 2023; papers.md §3): range–null projection of x̂₀ with the operator's A⁺, then DDIM-style
// re-noising. Noisy measurements (noiseStd σ_y > 0) follow DDNM⁺: λ = σ_{i+1}/σ_y and γ = 0 once
// σ_{i+1} < σ_y, otherwise γ = √(σ_{i+1}² − σ_y²). `mixing` chooses how the noise mixes: 'ddnm' (√(1−η²), η),
// the paper's; 'invfussion' ((1−η), η), InvFussion's code; 'ddim', the variance-exact DDIM-η step.
import { defineSampler, SamplerOptions, SamplerProgram } from './driver';
import { Held, measurement, noise, Resolved } from './common';
import { checkEta } from './ddim';

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
  let x = held.take(noise(r, 0).mul(sigmas[0]));
  for (let i = 0; i < steps; i++) {
    const sigma = sigmas[i];
    const next = sigmas[i + 1];
    const { x0 } = yield { x, sigma };
    const eps = x.sub(x0).div(sigma);
    const lambda = sigmaY > 0 && next < sigmaY ? next / sigmaY : 1;
    const gamma = sigmaY > 0 ? (next < sigmaY ? 0 : Math.sqrt(next * next - sigmaY * sigmaY)) : next;
    // x̂₀ + λ A⁺(y − A x̂₀); with λ = 1 that is the operator's own projection, one native call.
    const x0Prime = lambda === 1 ? A.project(x0, y) : x0.add(A.pinv(y.sub(A.forward(x0))).mul(lambda));
    r.onStep?.({ step: i, steps, sigma, x0: x0Prime });
    let out = x0Prime;
    if (gamma > 0) {
      const z = noise(r, i + 1);
      if (mixing === 'ddim') {
        const c = eta * gamma * Math.sqrt(Math.max(0, 1 - (gamma * gamma) / (sigma * sigma)));
        out = out.add(eps.mul(Math.sqrt(gamma * gamma - c * c))).add(z.mul(c));
      } else {
        const keepEps = mixing === 'ddnm' ? Math.sqrt(1 - eta * eta) : 1 - eta;
        out = out.add(eps.mul(keepEps * gamma)).add(z.mul(eta * gamma));
      }
    }
    x = held.replace(x, out);
  }
  return held.release(x);
}

export const { sync: ddnm, async: ddnmAsync } = defineSampler<DdnmOptions>('ddnm', 100, program);
