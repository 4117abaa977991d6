// invdiff bench: times one restoration on this machine, after a warm-up run.
import { backend } from '../backend';
import { deadLeaves } from '../data/dead-leaves';
import { IDM } from '../models/idm';
import { restoreImages } from '../restoration/restore-images';
import { Progress } from '../io/progress';
import { Command, number, positiveInt, UsageError } from './args';
import { loadModel } from './files';
import { checkMethodFlags, METHOD_HELP, METHOD_OPTIONS, methodNames, restorer } from './method';
import { QUIET_HELP, QUIET_OPTIONS } from './output';

export const bench: Command = {
  summary: 'time a restoration (IDM by default, or any model and method) on this machine',
  usage: `invdiff bench [--model FILE|NAME] [--method NAME] [--steps N] [--size N] [--seed N] [--json]
  --seed N           seeds the test image, the operators and the sampler (default 0)
${QUIET_HELP}
${METHOD_HELP}`,
  options: { ...METHOD_OPTIONS, ...QUIET_OPTIONS, model: { type: 'string' }, size: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' } },
  run(values) {
    const model = values.model ? loadModel(String(values.model)) : new IDM({ channels: 16, blocks: 1, heads: 2 });
    const [name, ...more] = methodNames(model, values);
    if (more.length) throw new UsageError('bench times one --method');
    checkMethodFlags(model, [name], values);
    const runs = model instanceof IDM ? 3 : 1;
    const progress = new Progress('bench', runs + 1, { quiet: Boolean(values.quiet) });
    let run = 0;
    const method = restorer(model, name, values, ({ step, steps }) => progress.update(run + (step + 1) / steps, run ? 'timed' : 'warm-up'));
    const size = number(values, 'size', 128, (v) => positiveInt(v) && v % method.sizeMultiple === 0, `a positive multiple of ${method.sizeMultiple}`);
    const seed = number(values, 'seed', 0, Number.isInteger, 'an integer');
    const image = deadLeaves({ count: 1, size, seed: seed + 1 });
    const operator = { family: 'blockCS', ratio: 0.1 };
    let seconds = 0;
    for (let i = -1; i < runs; i++) {
      run = i + 1;
      progress.update(run, run ? 'timed' : 'warm-up');
      const r = restoreImages(method, image, operator, { seed: seed + Math.max(i, 0), silent: true });
      if (i >= 0) seconds += r.seconds; // the first run warms up
      r.restored.dispose();
      r.baseline.dispose();
    }
    progress.update(runs + 1);
    progress.finish();
    const result = { backend: backend(), method: method.label, size, secondsPerReconstruction: seconds / runs };
    if (values.json) console.log(JSON.stringify(result, null, 2));
    else console.log(`${method.label} restoring one ${size}² image (10% block CS): ${(result.secondsPerReconstruction * 1000).toFixed(0)} ms on ${result.backend.threads} threads`);
    return 0;
  },
};
