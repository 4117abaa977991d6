#!/usr/bin/env node
// The `invdiff` program. doctor and rebuild are the commands for when the native addon does not load, and the
// other commands call it as their modules are imported, so those two run from here, before index.ts is required.
import { parseArgs } from 'util';
import type { Command } from './args';
import { doctor } from './doctor';
import { rebuild } from './rebuild';

const early: Record<string, Command> = { doctor, rebuild };
const [name, ...rest] = process.argv.slice(2);
const command = early[name];
if (!command) {
  try {
    require('./index').runProgram(process.argv.slice(2));
  } catch (err) {
    // the loader's error (it starts with 'invdiff:'), thrown as the commands' modules were imported
    console.error((err as Error).message);
    process.exitCode = 1;
  }
} else {
  try {
    const { values } = parseArgs({ args: rest, strict: true, options: { ...command.options, help: { type: 'boolean', short: 'h' } } });
    if (values.help) console.log(`usage: ${command.usage}`);
    else process.exitCode = command.run(values, []) as number;
  } catch (err) {
    console.error(`invdiff: ${(err as Error).message} (see invdiff ${name} --help)`);
    process.exitCode = 2;
  }
}
