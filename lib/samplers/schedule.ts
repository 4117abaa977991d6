// The EDM σ schedule (papers.md §4.1): σ_i = (σ_max^{1/ρ} + i/(N−1)(σ_min^{1/ρ} − σ_max^{1/ρ}))^ρ, σ_N = 0.
export interface ScheduleOptions {
  steps: number;
  sigmaMin?: number;
  sigmaMax?: number;
  rho?: number;
}

export function edmSigmas({ steps, sigmaMin = 0.002, sigmaMax = 80, rho = 7 }: ScheduleOptions): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`samplers: option 'steps' must be a positive integer, got ${steps}`);
  if (!(sigmaMin > 0) || !(sigmaMax > sigmaMin)) throw new RangeError(`samplers: options need 0 < sigmaMin < sigmaMax, got sigmaMin ${sigmaMin}, sigmaMax ${sigmaMax}`);
  if (!(rho > 0)) throw new RangeError(`samplers: option 'rho' must be positive, got ${rho}`);
  const a = sigmaMax ** (1 / rho);
  const b = sigmaMin ** (1 / rho);
  const sigmas = Array.from({ length: steps }, (_, i) => (a + (steps === 1 ? 0 : i / (steps - 1)) * (b - a)) ** rho);
  return [...sigmas, 0];
}
