// --method and --steps: how a model restores, by the restoration layer's rules of what suits which model.
import type { AnyModel } from '../models/any';
import { isSamplerName, Restorer } from '../restoration/methods';
import { defaultMethod, defaultSteps, restorerFor, unsuitable, ZERO_SHOT } from '../restoration/suitability';
import { number, Options, positiveInt, UsageError, Values } from './args';

export const METHOD_OPTIONS: Options = { method: { type: 'string' }, steps: { type: 'string' } };

export const METHOD_HELP = `  --method NAME      how a diffusion model restores: ${ZERO_SHOT.join(', ')} (zero-shot, on an unconditional model;
                     default ddnm), heun, euler, ddim or mmse (on a palette model; default heun). An IDM is itself the method.
  --steps N          sampler steps (default ${defaultSteps('ddnm')} for the zero-shot samplers, ${defaultSteps('heun')} for heun/euler/ddim)`;

/** The restoration method a model and a method name (default: the model's own) give, with --steps. */
export function restorer(model: AnyModel, method: string | undefined, values: Values): Restorer {
  const name = method ?? defaultMethod(model);
  const why = unsuitable(model, name);
  if (why) throw new UsageError(`--method ${name} ${why}`);
  const steps = isSamplerName(name) ? number(values, 'steps', defaultSteps(name), positiveInt, 'a positive integer') : undefined;
  return restorerFor(model, { method: name, steps });
}
