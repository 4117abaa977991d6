// --method, --steps and the samplers' own flags (--eta, --zeta, …): how a model restores, by the restoration
// layer's rules of what suits which model. A flag the chosen method does not read is an error.
import type { AnyModel } from '../models/any';
import { IDM } from '../models/idm';
import { isSamplerName, Restorer, SAMPLER_NAMES, SamplerName } from '../restoration/methods';
import { defaultMethod, defaultSteps, restorerFor, unsuitable, ZERO_SHOT } from '../restoration/suitability';
import { SAMPLER_OWN_OPTIONS } from '../samplers';
import { number, Options, positiveInt, UsageError, Values } from './args';

// Each sampler option as a flag: its name on the command line, how it parses, and what it does.
interface Flag {
  option: string;
  kind: 'number' | 'string';
  help: string;
}
export const SAMPLER_FLAGS: Record<string, Flag> = {
  eta: { option: 'eta', kind: 'number', help: 'X  stochasticity in [0, 1] (ddim 0, ddnm/ddrm 0.85)' },
  'eta-b': { option: 'etaB', kind: 'number', help: 'X  range-space weight of A⁺y in [0, 1] (default 1)' },
  mixing: { option: 'mixing', kind: 'string', help: 'ddnm|invfussion|ddim  how the noise mixes (default ddnm)' },
  zeta: { option: 'zeta', kind: 'number', help: 'X  guidance step size ζ (default 5; 0.5 with --dps-step invfussion)' },
  'dps-step': { option: 'step', kind: 'string', help: "original|invfussion  ζ/‖y − A x̂₀‖ on the squared residual (default), or ζ on its norm" },
  guidance: { option: 'guidance', kind: 'number', help: 'X  scale of the ΠGDM guidance (default 1)' },
  churn: { option: 'churn', kind: 'number', help: 'X  EDM S_churn, fresh noise per step (default 0)' },
  'ode-steps': { option: 'odeSteps', kind: 'number', help: 'N  Euler steps of each x̂₀ (default 5)' },
  'langevin-steps': { option: 'langevinSteps', kind: 'number', help: 'N  Langevin steps per level (default 100)' },
  'langevin-lr': { option: 'lr', kind: 'number', help: 'X  Langevin step size (default 1e-4)' },
};

export const METHOD_OPTIONS: Options = {
  method: { type: 'string' },
  steps: { type: 'string' },
  project: { type: 'boolean' },
  ...Object.fromEntries(Object.keys(SAMPLER_FLAGS).map((f) => [f, { type: 'string' as const }])),
};

const flagsOf = (sampler: SamplerName) => Object.entries(SAMPLER_FLAGS).filter(([, f]) => (SAMPLER_OWN_OPTIONS[sampler] as readonly string[]).includes(f.option));

export const METHOD_HELP = `  --method NAME      how a diffusion model restores: ${ZERO_SHOT.join(', ')} (zero-shot, on an unconditional model;
                     default ddnm), heun, euler, ddim or mmse (on a palette model; default heun). An IDM is itself the method.
  --project          with mmse: project the estimate onto A x = y by an exact A⁺ (noiseless operators only)
  --steps N          sampler steps (default ${defaultSteps('ddnm')} for the zero-shot samplers, ${defaultSteps('heun')} for heun/euler/ddim)
  each sampler's own options:
${SAMPLER_NAMES.map((s) => {
  const flags = flagsOf(s);
  return `    ${s.padEnd(6)} ${flags.length ? flags.map(([name, f]) => `--${name} ${f.help}`).join('\n           ') : '(none)'}`;
}).join('\n')}`;

/** The flags among METHOD_OPTIONS that were given. */
const givenFlags = (values: Values) => Object.keys(SAMPLER_FLAGS).filter((f) => values[f] !== undefined);

/**
 * Checks that every method flag given applies to at least one of the methods that will run (none to an IDM),
 * so no flag is silently ignored.
 */
export function checkMethodFlags(model: AnyModel, methods: string[], values: Values): void {
  const given = givenFlags(values);
  if (model instanceof IDM) {
    const ignored = ['method', 'steps', 'project', ...given].filter((f) => values[f] !== undefined && !(f === 'method' && values.method === 'idm'));
    if (ignored.length) throw new UsageError(`${ignored.map((f) => `--${f}`).join(', ')} ${ignored.length > 1 ? 'do' : 'does'} not apply to an IDM model (it is its own method, with its trained steps)`);
    return;
  }
  for (const flag of given) {
    const takers = SAMPLER_NAMES.filter((s) => flagsOf(s).some(([name]) => name === flag));
    if (!methods.some((m) => (takers as string[]).includes(m)))
      throw new UsageError(`--${flag} applies to ${takers.join(', ')}, not to ${methods.join(', ')}`);
  }
  if (values.steps !== undefined && !methods.some(isSamplerName)) throw new UsageError(`--steps applies to the samplers, not to ${methods.join(', ')}`);
  if (values.project !== undefined && !methods.includes('mmse')) throw new UsageError(`--project applies to mmse, not to ${methods.join(', ')}`);
}

/** The methods --method names (comma-separated), or the model's own. */
export function methodNames(model: AnyModel, values: Values): string[] {
  const names = String(values.method ?? '').split(',').filter(Boolean);
  return names.length ? names : [defaultMethod(model)];
}

/**
 * The restoration method a model and a method name (default: the model's own) give, with --steps and the
 * sampler's flags; `onStep` follows a sampler's steps (for progress).
 */
export function restorer(model: AnyModel, method: string | undefined, values: Values, onStep?: (p: { step: number; steps: number }) => void): Restorer {
  const name = method ?? defaultMethod(model);
  const why = unsuitable(model, name);
  if (why) throw new UsageError(`--method ${name} ${why}`);
  if (!isSamplerName(name)) return restorerFor(model, { method: name, ...(name === 'mmse' && values.project ? { project: true } : {}) });
  const own: Record<string, number | string> = {};
  for (const [flag, f] of flagsOf(name)) {
    if (values[flag] === undefined) continue;
    own[f.option] = f.kind === 'number' ? number(values, flag, 0, Number.isFinite, 'a number') : String(values[flag]);
  }
  const steps = number(values, 'steps', defaultSteps(name), positiveInt, 'a positive integer');
  return restorerFor(model, { method: name, steps, ...own, ...(onStep ? { onStep } : {}) });
}
