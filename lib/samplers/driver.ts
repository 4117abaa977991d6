// Runs a sampler written as a generator: the generator yields denoiser requests and receives x̂₀ (and, for
// guidance, a vector–Jacobian product); the sync and async drivers below serve every sampler alike, count
// NFEs honestly, report progress, honour AbortSignal and keep memory flat.
import { enableGrad, noGrad } from '../autograd';
import { grad } from '../generated/ops';
import { scope, scopeAsync, keep, type Tensor } from '../tensor';
import { Resolved, resolve } from './common';
import type { DenoiseAnswer, DenoiseContext, Denoiser, SampleResult, SamplerOptions, SamplerProgram, SamplerRequest } from './contract';
import { Held } from './held';

// The sync driver runs the whole program with autograd off (one switch per run, not two per NFE), so
// `gradOff` says the denoiser needs no switch of its own.
function answer(denoiser: Denoiser, request: SamplerRequest, context: DenoiseContext, gradOff = false): DenoiseAnswer {
  if ('work' in request) return { x0: keep(gradOff ? request.work() : noGrad(request.work)) };
  if (!request.vjp) {
    const denoise = () => denoiser.denoise(request.x, request.sigma, context);
    return { x0: keep(gradOff ? denoise() : noGrad(denoise)) };
  }
  // grad(), not backward(): only ∂/∂x is computed, and the network's parameter gradients stay untouched.
  return enableGrad(() => {
    const x = request.x.detach().requiresGrad_();
    const x0 = denoiser.denoise(x, request.sigma, context);
    const [g] = grad(request.vjp!(x0), [x]);
    return { x0: keep(x0.detach()), grad: keep(g) };
  });
}

async function answerAsync(denoiser: Denoiser, request: SamplerRequest, context: DenoiseContext): Promise<DenoiseAnswer> {
  if ('work' in request) return { x0: keep(await noGrad(request.workAsync)) };
  if (request.vjp || !denoiser.denoiseAsync) return answer(denoiser, request, context);
  return { x0: keep(await noGrad(() => denoiser.denoiseAsync!(request.x, request.sigma, context))) };
}

// Frees a denoiser answer; disposing twice is harmless, so the finally blocks may call it again.
function release(a?: DenoiseAnswer): void {
  a?.x0.dispose();
  a?.grad?.dispose();
}

function checkSignal(signal?: AbortSignal): void {
  if (signal?.aborted) {
    const err = new Error('sampling was cancelled');
    err.name = 'AbortError';
    throw err;
  }
}

function consistency(options: SamplerOptions, images: Tensor): number[] | undefined {
  if (!options.operator || !options.y) return undefined;
  return scope(() => Array.from(options.operator!.forward(images).sub(options.y!).flatten({ startDim: 1 }).norm({ dim: 1 }).toFloat64Array()));
}

interface Counts {
  nfe: number;
  vjp: number;
}

// A sampler never hands back NaN or ±Inf as if it were an image: which images went bad is the error.
function checkFinite(name: string, images: Tensor, counts: Counts): void {
  const bad = scope(() => (images.isfinite().all() ? [] : Array.from(images.isfinite().logicalNot().flatten({ startDim: 1 }).sum({ dim: 1 }).toFloat64Array())));
  const which = bad.flatMap((n, i) => (n > 0 ? [i] : []));
  if (!which.length) return;
  images.dispose();
  throw new Error(
    `${name}: the result holds NaN or ±Inf in image${which.length > 1 ? 's' : ''} ${which.join(', ')} of ${bad.length} after ${counts.nfe} NFEs ` +
      '(the denoiser, the operator or y gave non-finite values, or the step size diverged); no images are returned',
  );
}

// One turn of the program: feeds it the last answer (then frees that answer) and returns its next request,
// or the finished result.
function advance(
  name: string,
  program: SamplerProgram,
  last: DenoiseAnswer | undefined,
  options: SamplerOptions,
  counts: Counts,
): { request: SamplerRequest } | { result: SampleResult } {
  checkSignal(options.signal);
  const step = scope(() => program.next(last as DenoiseAnswer));
  release(last);
  if (!step.done) return { request: step.value };
  const images = step.value;
  checkFinite(name, images, counts);
  return { result: { images, nfe: counts.nfe, vjp: counts.vjp, consistency: consistency(options, images) } };
}

function count(counts: Counts, request: SamplerRequest, denoiser: Denoiser): void {
  if ('work' in request) return;
  counts.nfe += denoiser.nfePerCall ?? 1;
  if (request.vjp) counts.vjp += 1;
}

function runSync(name: string, program: SamplerProgram, held: Held, denoiser: Denoiser, options: SamplerOptions): SampleResult {
  const context: DenoiseContext = { operator: options.operator, y: options.y };
  const counts = { nfe: 0, vjp: 0 };
  let last: DenoiseAnswer | undefined;
  try {
    return noGrad(() => {
      for (;;) {
        const turn = advance(name, program, last, options, counts);
        last = undefined;
        if ('result' in turn) return turn.result;
        last = scope(() => answer(denoiser, turn.request, context, true));
        count(counts, turn.request, denoiser);
      }
    });
  } finally {
    release(last);
    program.return(undefined as unknown as Tensor);
    held.disposeAll(); // the program's state, also on cancel or error
  }
}

async function runAsync(name: string, program: SamplerProgram, held: Held, denoiser: Denoiser, options: SamplerOptions): Promise<SampleResult> {
  const context: DenoiseContext = { operator: options.operator, y: options.y };
  const counts = { nfe: 0, vjp: 0 };
  let last: DenoiseAnswer | undefined;
  try {
    for (;;) {
      const turn = advance(name, program, last, options, counts);
      last = undefined;
      if ('result' in turn) return turn.result;
      last = await scopeAsync(() => answerAsync(denoiser, turn.request, context));
      count(counts, turn.request, denoiser);
      await new Promise((resolve) => setImmediate(resolve)); // let the event loop breathe between steps
    }
  } finally {
    release(last);
    program.return(undefined as unknown as Tensor);
    held.disposeAll();
  }
}

/** A sampler's program: a generator over its resolved options and the slots that hold what it keeps. */
export type Program<O> = (r: Resolved & O, held: Held) => SamplerProgram;

/**
 * The sync and async entry points of a sampler from its program, and `own`, the options it adds to the
 * common ones (any other key is an error naming it).
 */
export function defineSampler<O extends SamplerOptions>(name: string, defaultSteps: number, own: readonly (Exclude<keyof O, keyof SamplerOptions> & string)[], program: Program<O>) {
  return {
    sync(denoiser: Denoiser, options: O): SampleResult {
      const held = new Held();
      return runSync(name, program(resolve(name, options, defaultSteps, own) as Resolved & O, held), held, denoiser, options);
    },
    async(denoiser: Denoiser, options: O): Promise<SampleResult> {
      const held = new Held();
      return runAsync(`${name}Async`, program(resolve(`${name}Async`, options, defaultSteps, own) as Resolved & O, held), held, denoiser, options);
    },
    own,
  };
}
