// What samplers and the models they drive agree on: the one model contract, the denoiser D(x_σ; σ, operator, y)
// → x̂₀ (EDM-preconditioned; models implement it natively, plain TS objects can too); the requests a sampler
// program yields to the driver and the answers it gets back; the options every sampler takes and its result.
import type { Operator } from '../operators/operator';
import type { Tensor } from '../tensor';

/** The measurement a conditional denoiser sees; empty for an unconditional call. */
export interface DenoiseContext {
  operator?: Operator;
  y?: Tensor;
}

export interface Denoiser {
  denoise(x: Tensor, sigma: number, context: DenoiseContext): Tensor;
  /** Optional: the same off the event loop; async samplers use it when present. */
  denoiseAsync?(x: Tensor, sigma: number, context: DenoiseContext): Promise<Tensor>;
  /**
   * Network evaluations one denoise call costs, which the driver counts as NFEs: 2 for classifier-free
   * guidance (a conditional and an unconditional pass). Default 1.
   */
  readonly nfePerCall?: number;
}

export interface DenoiseRequest {
  x: Tensor;
  sigma: number;
  /** When given, also returns ∂s/∂x for the scalar s = vjp(x̂₀), by autograd through the denoiser. */
  vjp?: (x0: Tensor) => Tensor;
}
/**
 * Heavy native work a program hands to the driver (DAPS's Langevin chain), so the async driver can run it
 * off the event loop. Its result comes back as the answer's `x0`. Not an NFE.
 */
export interface WorkRequest {
  work: () => Tensor;
  workAsync: () => Promise<Tensor>;
}
export interface DenoiseAnswer {
  /** x̂₀, or a work request's result; freed once the program takes its next step. */
  x0: Tensor;
  grad?: Tensor;
}

export type SamplerRequest = DenoiseRequest | WorkRequest;
/** A sampler written as a generator: it yields requests, receives answers and returns the images. */
export type SamplerProgram = Generator<SamplerRequest, Tensor, DenoiseAnswer>;

export interface StepInfo {
  step: number;
  steps: number;
  sigma: number;
  x0: Tensor;
}

export interface SamplerOptions {
  operator?: Operator;
  y?: Tensor;
  /** Image batch shape N×C×H×W; needed only without an operator (the operator knows its image shape and batch). */
  shape?: number[];
  /**
   * The σ schedule σ_0 > σ_1 > … > σ_{N−1} > σ_N = 0, as edmSigmas returns it: N + 1 numbers, positive and
   * strictly decreasing, ending in 0 so the last step lands on a clean image. It sets `steps` to N and
   * replaces the EDM schedule that `steps`, `sigmaMin`, `sigmaMax` and `rho` would build.
   */
  sigmas?: number[];
  steps?: number;
  seed?: number;
  sigmaMin?: number;
  sigmaMax?: number;
  rho?: number;
  onStep?: (info: StepInfo) => void;
  signal?: AbortSignal;
}

/** A sampler whose result holds NaN or ±Inf throws an Error naming the images instead of returning it. */
export interface SampleResult {
  images: Tensor;
  /** Denoiser evaluations. */
  nfe: number;
  /** Vector–Jacobian products through the denoiser (DPS, ΠGDM). */
  vjp: number;
  /** ‖A x − y‖ per image, when an operator and y were given. */
  consistency?: number[];
}
