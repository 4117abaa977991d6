// --operator, --ratio, --set and --noise: the degradation a command measures with.
import type { AnyModel } from '../models/any';
import { fromSpec, names, OperatorSpec } from '../operators/operator';
import { describeOperator } from '../restoration/report';
import { trainedOperator } from '../restoration/suitability';
import { number, Options, UsageError, Values } from './args';

export const OPERATOR_OPTIONS: Options = {
  operator: { type: 'string' },
  ratio: { type: 'string' },
  set: { type: 'string', multiple: true },
  noise: { type: 'string' },
};

export const OPERATOR_HELP = `  --operator NAME    degradation family (default blockCS): ${names().join(', ')}
  --ratio R          block CS sampling ratio in (0, 1] (default 0.1)
  --set KEY=VALUE    any family option, repeatable (e.g. --set keep=0.3 --set blockSize=16)
  --noise SIGMA      measurement noise standard deviation on [-1, 1] images (default 0)`;

export function operatorSpec(values: Values): OperatorSpec {
  const family = String(values.operator ?? 'blockCS');
  if (!names().includes(family)) throw new UsageError(`--operator must be one of ${names().join(', ')}, got '${family}'`);
  const spec: OperatorSpec = { family };
  if (family === 'blockCS') spec.ratio = number(values, 'ratio', 0.1, (v) => v > 0 && v <= 1, 'a ratio in (0, 1]');
  else if (values.ratio !== undefined) throw new UsageError(`--ratio applies to blockCS only; use --set for ${family}'s options`);
  for (const kv of (values.set as string[] | undefined) ?? []) {
    const m = /^([A-Za-z]+)=(.+)$/.exec(kv);
    if (!m) throw new UsageError(`--set expects KEY=VALUE, got '${kv}'`);
    const v = m[2];
    spec[m[1]] = v === 'true' ? true : v === 'false' ? false : /^[-+\d.e,]+$/.test(v) ? (v.includes(',') ? v.split(',').map(Number) : Number(v)) : v;
  }
  const noise = number(values, 'noise', 0, (v) => v >= 0, 'a non-negative number');
  if (noise) spec.noiseStd = noise;
  probe(spec);
  return spec;
}

// An option the family does not take is a usage error now, before any model runs; other problems (sizes)
// depend on the images and surface where those are known.
function probe(spec: OperatorSpec): void {
  try {
    fromSpec(spec, [1, 96, 96]).dispose();
  } catch (e) {
    if (e instanceof Error && /unknown option/.test(e.message)) throw new UsageError(`--set: ${e.message.replace(/^operators\.create: /, '')}`);
  }
}

/** Several operators for eval: --operator a,b,… and, for blockCS, --ratio r1,r2,… (each combination). */
export function operatorSpecs(values: Values): OperatorSpec[] {
  const specs: OperatorSpec[] = [];
  for (const family of String(values.operator ?? 'blockCS').split(',')) {
    const ratios = family === 'blockCS' && values.ratio !== undefined ? String(values.ratio).split(',') : [values.ratio as string | undefined];
    for (const ratio of ratios) specs.push(operatorSpec({ ...values, operator: family, ratio }));
  }
  return specs;
}

/**
 * The degradation a model is evaluated on: --operator when given, else what it was trained for (with --noise
 * if given), else block CS 10%. --ratio and --set describe an operator, so without --operator they are errors
 * rather than options quietly dropped in favour of the trained one.
 */
export function evaluationOperator(model: AnyModel, values: Values): OperatorSpec {
  if (values.operator) return operatorSpec(values);
  const trained = trainedOperator(model);
  const stray = (['ratio', 'set'] as const).filter((k) => values[k] !== undefined);
  if (stray.length) {
    const own = trained ? `the model's own operator (${describeOperator(trained)})` : 'block CS 10%';
    throw new UsageError(`${stray.map((k) => `--${k}`).join(' and ')} ${stray.length > 1 ? 'describe' : 'describes'} an operator: give --operator too (without it ${own} is used)`);
  }
  if (!trained) return operatorSpec({ ...values, operator: 'blockCS' });
  const noise = number(values, 'noise', 0, (v) => v >= 0, 'a non-negative number');
  return noise ? { ...trained, noiseStd: noise } : trained;
}

/** Errors for operator flags given to a command or model that measures with no operator. */
export function rejectOperatorFlags(values: Values, why: string): void {
  const given = Object.keys(OPERATOR_OPTIONS).filter((k) => values[k] !== undefined);
  if (given.length) throw new UsageError(`${given.map((k) => `--${k}`).join(', ')}: ${why}`);
}
