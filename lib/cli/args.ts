// What every command shares: its table row, the usage error (exit 2), and reading numbers from options.
import type { ParseArgsConfig } from 'util';

/** Bad arguments: the CLI prints the message with a pointer to --help and exits 2. */
export class UsageError extends Error {}

export type Options = NonNullable<ParseArgsConfig['options']>;
export type Values = Record<string, string | boolean | string[] | undefined>;

export interface Command {
  summary: string;
  usage: string;
  options: Options;
  run(values: Values, positionals: string[]): Promise<number> | number;
}

export function number(values: Values, key: string, fallback: number, check: (v: number) => boolean = Number.isFinite, what = 'a number'): number {
  const raw = values[key];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!check(v)) throw new UsageError(`--${key} must be ${what}, got '${raw}'`);
  return v;
}

export const positiveInt = (v: number) => Number.isInteger(v) && v > 0;
