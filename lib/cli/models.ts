// invdiff models: the shipped models by name, with their cards; each name works wherever --model takes a file.
import { formatCard } from '../models/card';
import { list } from '../models/pretrained';
import type { Command } from './args';

export const models: Command = {
  summary: 'the shipped models (idm-cs10, unconditional, …) with their cards; use a name wherever --model takes a file',
  usage: 'invdiff models [--json]',
  options: { json: { type: 'boolean' } },
  run(values) {
    const listed = list();
    if (values.json) console.log(JSON.stringify(listed, null, 2));
    else console.log(listed.map((m) => (m.card ? formatCard({ ...m.card, name: m.name }) : `${m.name}: not available (${m.summary})`)).join('\n\n'));
    return 0;
  },
};
