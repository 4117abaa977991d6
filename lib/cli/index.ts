#!/usr/bin/env node
// npx invdiff: the command line. One file per command: its options (util.parseArgs, strict), help text and
// body. Exit codes: 0 done, 1 the work failed, 2 a usage error, 130 interrupted (a checkpoint was saved).
import { parseArgs } from 'util';
import { didYouMean } from '../suggest';
import { Command, Options, UsageError, Values } from './args';
import { bench } from './bench';
import { doctor } from './doctor';
import { evalCommand } from './eval';
import { info } from './info';
import { models } from './models';
import { rebuild } from './rebuild';
import { restore } from './restore';
import { train } from './train';

const commands: Record<string, Command> = { info, models, train, restore, eval: evalCommand, bench, doctor, rebuild };

const USAGE = `usage: invdiff <command> [options]   (invdiff <command> --help for its options)

commands:
${Object.entries(commands)
  .map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`)
  .join('\n')}
  help     this text`;

async function main(argv: string[]): Promise<number> {
  const name = argv[0] && !argv[0].startsWith('-') ? argv[0] : 'help';
  if (name === 'help') {
    console.log(USAGE);
    return argv.length && argv[0] !== 'help' && !['-h', '--help'].includes(argv[0]) ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    console.error(`invdiff: unknown command '${name}'\n\n${USAGE}`);
    return 2;
  }
  const options: Options = { ...command.options, help: { type: 'boolean', short: 'h' } };
  checkFlags(name, argv.slice(1), options);
  const { values, positionals } = parseArgs({ args: argv.slice(1), allowPositionals: true, strict: true, options });
  if (values.help) {
    console.log(`usage: ${command.usage}`);
    return 0;
  }
  return command.run(values as Values, positionals);
}

// Unknown flags first, by name and with the nearest known one, before parseArgs' generic message.
function checkFlags(name: string, args: string[], options: Options): void {
  const { tokens } = parseArgs({ args, options, allowPositionals: true, strict: false, tokens: true });
  for (const t of tokens ?? []) {
    if (t.kind !== 'option' || t.name in options) continue;
    const known = Object.keys(options);
    throw new UsageError(`unknown option ${t.rawName} for invdiff ${name}${didYouMean(t.name, known, (s) => `--${s}`)}`);
  }
}

/** Runs the program (bin.ts calls it): the exit code is set, failures are printed. */
export function runProgram(argv: string[]): void {
  main(argv)
    .then((code) => {
      process.exitCode = code;
    })
    .catch((err: Error & { code?: string }) => {
      const usage = err instanceof UsageError || err.code?.startsWith('ERR_PARSE_ARGS');
      console.error(`invdiff: ${err.message}${usage ? ` (see invdiff ${argv[0] ?? ''} --help)` : ''}`);
      process.exitCode = usage ? 2 : 1;
    });
}

// Run only as the program, so requiring this module (tests load every module on its own) does nothing.
if (require.main === module) runProgram(process.argv.slice(2));
