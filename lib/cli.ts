#!/usr/bin/env node
// npx invdiff: the command line. `info` now; train/restore/eval/bench come with the pipeline.
import { parseArgs } from 'util';
import { backend, memory } from './backend';
import { moduleKinds } from './module';

const USAGE = `usage: invdiff <command> [options]

commands:
  info     the backend: LibTorch version, CUDA, threads, module kinds
  help     this text`;

function main(argv: string[]): number {
  const { positionals, values } = parseArgs({ args: argv, allowPositionals: true, options: { help: { type: 'boolean', short: 'h' }, json: { type: 'boolean' } } });
  const command = positionals[0] ?? 'help';
  if (values.help || command === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (command === 'info') {
    const info = { ...backend(), node: process.version, modules: moduleKinds(), memory: memory() };
    if (values.json) console.log(JSON.stringify(info, null, 2));
    else {
      console.log(`invdiff on LibTorch ${info.torch}, Node ${info.node}`);
      console.log(`threads: ${info.threads}; CUDA: ${info.cuda ? `${info.cudaDevices} device(s)` : 'not available'}`);
      console.log(`module kinds: ${info.modules.join(', ')}`);
    }
    return 0;
  }
  console.error(`invdiff: unknown command '${command}'\n\n${USAGE}`);
  return 2;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  console.error(`invdiff: ${(err as Error).message}`);
  process.exitCode = 2;
}
