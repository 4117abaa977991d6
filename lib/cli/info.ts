// invdiff info: the backend this process runs on.
import { backend } from '../backend';
import { memory } from '../tensor';
import { moduleKinds } from '../module';
import type { Command } from './args';

export const info: Command = {
  summary: 'the backend: LibTorch version, CUDA, threads, module kinds',
  usage: 'invdiff info [--json]',
  options: { json: { type: 'boolean' } },
  run(values) {
    const facts = { ...backend(), node: process.version, modules: moduleKinds(), memory: memory() };
    if (values.json) console.log(JSON.stringify(facts, null, 2));
    else {
      console.log(`invdiff on LibTorch ${facts.torch}, Node ${facts.node}`);
      console.log(`threads: ${facts.threads}; CUDA: ${facts.cuda ? `${facts.cudaDevices} device(s)` : 'not available'}`);
      console.log(`module kinds: ${facts.modules.join(', ')}`);
    }
    return 0;
  },
};
