// Which restoration method suits which model. An IDM is its own method. An unconditional prior knows nothing
// of y, so only the zero-shot solvers, which bring the measurement in themselves, restore with it. A Palette
// reads A⁺y and InvFussion the operator itself, so any sampler (posterior sampling) or their one-step MMSE does.
import type { AnyModel } from '../models/any';
import { trainedFor } from '../models/card';
import { Unconditional } from '../models/diffusion';
import { IDM } from '../models/idm';
import type { OperatorSpec } from '../operators/operator';
import { SAMPLER_OWN_OPTIONS } from '../samplers';
import { checkOptions } from '../tensor';
import { idmRestorer, isSamplerName, mmseRestorer, Restorer, SAMPLER_NAMES, SamplerName, samplerRestorer } from './methods';

/** The samplers that enforce the measurement themselves, so they work on an unconditional prior. */
export const ZERO_SHOT: readonly SamplerName[] = ['ddnm', 'ddrm', 'dps', 'pigdm', 'daps'];

/** Every method name restorerFor takes: the samplers, 'mmse', and 'idm' for an IDM. */
export const METHOD_NAMES = [...SAMPLER_NAMES, 'mmse', 'idm'] as const;
export type MethodName = (typeof METHOD_NAMES)[number];

/** The method a model restores with when none is named: itself, DDNM on a prior, Heun on a Palette. */
export function defaultMethod(model: AnyModel): MethodName {
  return model instanceof IDM ? 'idm' : model instanceof Unconditional ? 'ddnm' : 'heun';
}

/** Steps when none are given: the zero-shot solvers need many small steps; Heun, Euler and DDIM on a Palette fewer. */
export function defaultSteps(sampler: SamplerName): number {
  return ZERO_SHOT.includes(sampler) ? 100 : 32;
}

/** Why `method` does not suit `model` (a phrase that follows the method's name), or undefined when it does. */
export function unsuitable(model: AnyModel, method: string): string | undefined {
  if (model instanceof IDM) return method === 'idm' ? undefined : 'does not apply to an IDM model (it is its own method)';
  if (method === 'mmse') return model instanceof Unconditional ? "needs a conditional (palette or invfussion) model; an unconditional model's MMSE ignores y" : undefined;
  if (method === 'idm') return 'applies to IDM models only';
  if (!isSamplerName(method)) return `is not a method; use one of ${[...SAMPLER_NAMES, 'mmse'].join(', ')}`;
  if (model instanceof Unconditional && !ZERO_SHOT.includes(method)) return `on an unconditional model would ignore the measurement; use one of ${ZERO_SHOT.join(', ')}`;
  return undefined;
}

/**
 * The Restorer for a model and a method name (default: defaultMethod); a sampler takes `steps` (default:
 * defaultSteps) and its own options (eta, zeta, …). An option
 * the method does not take is an error naming it.
 */
export function restorerFor(model: AnyModel, opts: { method?: string; steps?: number; [option: string]: unknown } = {}): Restorer {
  const method = opts.method ?? defaultMethod(model);
  const why = unsuitable(model, method);
  if (why) throw new RangeError(`restorerFor: 'method' ${method} ${why}`);
  const own = isSamplerName(method) ? ['steps', 'onStep', ...SAMPLER_OWN_OPTIONS[method]] : method === 'mmse' ? ['project'] : [];
  const { method: _, steps: givenSteps, ...rest } = checkOptions(`restorerFor(${method})`, opts, ['method', ...own]);
  if (model instanceof IDM) return idmRestorer(model);
  if (method === 'mmse') return mmseRestorer(model, rest as { project?: boolean });
  const steps = givenSteps ?? defaultSteps(method as SamplerName);
  if (!Number.isInteger(steps) || steps <= 0) throw new RangeError(`restorerFor: 'steps' must be a positive integer, got ${steps}`);
  return samplerRestorer(method as SamplerName, model, { steps, ...rest });
}


/** The degradation a saved model was trained for (its card, or older metadata), if it says. */
export function trainedOperator(model: AnyModel): OperatorSpec | undefined {
  return trainedFor(model.metadata)[0];
}
