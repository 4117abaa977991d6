// DDRM with A and A⁺ only (Kawar et al. 2022; papers.md §3), assuming equal non-zero singular values (exact
// when noiseless). P = A⁺A splits x into range and null space. Null space: a DDIM-η step from x̂₀. Range
// space: while σ_{i+1} ≥ σ_y it is η_b·A⁺y + (1 − η_b)·P x̂₀ plus noise √(σ_{i+1}² − η_b²σ_y²); below σ_y the
// Wiener-like mix P x̂₀ + √(1−η²)·σ_{i+1}(A⁺y − P x̂₀)/σ_y + η·σ_{i+1}·z. N NFEs.
import { defineSampler, SamplerOptions, SamplerProgram } from './driver';
import { Held, measurement, noise, Resolved } from './common';
import { checkEta } from './ddim';

export interface DdrmOptions extends SamplerOptions {
  eta?: number;
  etaB?: number;
}

function* program(r: Resolved & DdrmOptions, held: Held): SamplerProgram {
  const { sigmas, steps } = r;
  const { A, y } = measurement('ddrm', r);
  const eta = checkEta('ddrm', r.eta ?? 0.85);
  const etaB = checkEta('ddrm', r.etaB ?? 1);
  const sigmaY = A.noiseStd;
  const project = (v: Parameters<typeof A.forward>[0]) => A.pinv(A.forward(v)); // P v
  const yBar = held.take(A.pinv(y));
  let x = held.take(yBar.add(noise(r, 0).mul(sigmas[0])));
  for (let i = 0; i < steps; i++) {
    const sigma = sigmas[i];
    const next = sigmas[i + 1];
    const { x0 } = yield { x, sigma };
    r.onStep?.({ step: i, steps, sigma, x0 });
    const eps = x.sub(x0).div(sigma);
    const z = noise(r, 2 * i + 1);
    const nullStep = x0.add(eps.mul(Math.sqrt(1 - eta * eta) * next)).add(z.mul(eta * next));
    // Range part c₁·A⁺y + P((1 − c₁)x̂₀ + c₂·z′); with the null part (I − P)·nullStep, P is linear, so one
    // projection per step serves both.
    let c1: number;
    let noisy;
    if (next >= sigmaY) {
      c1 = etaB;
      noisy = noise(r, 2 * i + 2).mul(Math.sqrt(Math.max(0, next * next - etaB * etaB * sigmaY * sigmaY)));
    } else {
      c1 = (Math.sqrt(1 - eta * eta) * next) / sigmaY;
      noisy = z.mul(eta * next);
    }
    const inRange = project(x0.mul(1 - c1).add(noisy).sub(nullStep));
    x = held.replace(x, nullStep.add(yBar.mul(c1)).add(inRange));
  }
  return held.release(x);
}

export const { sync: ddrm, async: ddrmAsync } = defineSampler<DdrmOptions>('ddrm', 25, program);
