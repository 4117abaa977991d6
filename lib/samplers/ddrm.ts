// DDRM with A and A⁺ only (Kawar et al. 2022; papers.md §3), assuming equal non-zero singular values (exact
// when noiseless). P = A⁺A splits x into range and null space. Null space: a DDIM-η step from x̂₀. Range
// space: while σ_{i+1} ≥ σ_y it is η_b·A⁺y + (1 − η_b)·P x̂₀ plus noise √(σ_{i+1}² − η_b²σ_y²); below σ_y the
// Wiener-like mix P x̂₀ + √(1−η²)·σ_{i+1}(A⁺y − P x̂₀)/σ_y + η·σ_{i+1}·z. N NFEs.
// One draw z per step serves both parts: P is the orthogonal projection onto the row space (A⁺ is the
// Moore–Penrose inverse), so (I − P)z and P z are independent, as two separate draws would be.
import { combine } from '../generated/ops';
import { measurement, noise, Resolved } from './common';
import { checkEta } from './ddim';
import type { SamplerOptions, SamplerProgram } from './contract';
import { defineSampler } from './driver';
import type { Held } from './held';

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
  const yBar = held.slot(A.pinv(y));
  const x = held.slot(yBar.value.add(noise(r, 0, sigmas[0]))); // x_0 = A⁺y + σ_0·z
  for (let i = 0; i < steps; i++) {
    const sigma = sigmas[i];
    const next = sigmas[i + 1];
    const { x0 } = yield { x: x.value, sigma };
    r.onStep?.({ step: i, steps, sigma, x0 });
    const z = noise(r, i + 1);
    // Null part: the DDIM-η step x̂₀ + a·ε̂ + b·z with ε̂ = (x − x̂₀)/σ.
    const a = (Math.sqrt(1 - eta * eta) * next) / sigma;
    const b = eta * next;
    const nullStep = combine([x0, x.value, z], [1 - a, a, b]);
    // Range part c₁·A⁺y + P((1 − c₁)x̂₀ + c₂·z); with the null part (I − P)·nullStep, P is linear, so one
    // projection per step serves both: x = nullStep + c₁·A⁺y + P((1 − c₁)x̂₀ + c₂·z − nullStep).
    const [c1, c2] =
      next >= sigmaY ? [etaB, Math.sqrt(Math.max(0, next * next - etaB * etaB * sigmaY * sigmaY))] : [(Math.sqrt(1 - eta * eta) * next) / sigmaY, b];
    const inRange = A.pinv(A.forward(combine([x0, x.value, z], [a - c1, -a, c2 - b])));
    x.set(combine([nullStep, yBar.value, inRange], [1, c1, 1]));
  }
  return x.release();
}

export const { sync: ddrm, async: ddrmAsync, own: ddrmOptionNames } = defineSampler<DdrmOptions>('ddrm', 25, ['eta', 'etaB'], program);
