// invdiff info [FILE|NAME]: the backend this process runs on, or a model's card.
import * as fs from 'fs';
import { backend } from '../backend';
import { describe, formatCard } from '../models/card';
import { isShippedName, SHIPPED, shippedFile } from '../models/shipped';
import { memory } from '../tensor';
import { moduleKinds } from '../module';
import { didYouMean } from '../suggest';
import { Command, UsageError } from './args';

export const info: Command = {
  summary: "the backend (LibTorch version, CUDA, threads, module kinds), or a model's card: invdiff info FILE|NAME",
  usage: `invdiff info [FILE|NAME] [--json]
  without a file: the backend; with a model file or a shipped model's name: its card (what it is, what it was
  trained for and on, steps, date, version, content hash, and whether the tensors still match it)`,
  options: { json: { type: 'boolean' } },
  run(values, positionals) {
    if (positionals.length > 1) throw new UsageError(`info takes at most one model, got ${positionals.length}: ${positionals.join(' ')}`);
    if (positionals.length) {
      const [what] = positionals;
      const file = fs.existsSync(what) ? what : isShippedName(what) ? shippedFile(what, 'info') : undefined;
      if (!file) throw new UsageError(`info: '${what}' is neither a file nor a shipped model${didYouMean(what, Object.keys(SHIPPED))}`);
      const card = describe(file);
      console.log(values.json ? JSON.stringify(card, null, 2) : formatCard(card));
      return card.hashMatches ? 0 : 1;
    }
    const facts = { ...backend(), node: process.version, modules: moduleKinds(), memory: memory() };
    if (values.json) console.log(JSON.stringify(facts, null, 2));
    else {
      console.log(`invdiff on LibTorch ${facts.torch}, Node ${facts.node}`);
      console.log(`threads: ${facts.threads}${facts.blasCore ? ` (OpenBLAS: ${facts.blasThreads}, ${facts.blasCore} kernels)` : ''}; CUDA: ${facts.cuda ? `${facts.cudaDevices} device(s)` : 'not available'}`);
      console.log(`module kinds: ${facts.modules.join(', ')}`);
    }
    return 0;
  },
};
