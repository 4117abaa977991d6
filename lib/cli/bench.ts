// invdiff bench: times one restoration on this machine, after a warm-up run; --all runs the whole report.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { packageRoot } from '../addon/scripts';
import { backend } from '../backend';
import { deadLeaves } from '../data/dead-leaves';
import { IDM } from '../models/idm';
import { restoreImages } from '../restoration/restore-images';
import { Progress } from '../io/progress';
import { Command, number, positiveInt, UsageError, Values } from './args';
import { loadModel } from './files';
import { checkMethodFlags, METHOD_HELP, METHOD_OPTIONS, methodNames, restorer } from './method';
import { QUIET_HELP, QUIET_OPTIONS } from './output';

const REPORT_OPTIONS = {
  all: { type: 'boolean' }, quick: { type: 'boolean' }, rounds: { type: 'string' }, only: { type: 'string' }, out: { type: 'string' }, 'no-build': { type: 'boolean' },
} as const;

// bench/run.js in a clone; the npm package leaves bench/ out (its references, native program and images).
function report(values: Values): number {
  const script = path.join(packageRoot, 'bench', 'run.js');
  if (!fs.existsSync(script)) throw new UsageError(`bench --all: the report runs in a clone of the repository (${script} is not in the npm package): git clone the project, then npm run bench`);
  const own = new Set(Object.keys(REPORT_OPTIONS));
  const mixed = Object.keys(values).filter((k) => values[k] !== undefined && !own.has(k) && k !== 'quiet');
  if (mixed.length) throw new UsageError(`bench --all: --${mixed.join(', --')} time one restoration, not the report`);
  const args = [script];
  for (const key of ['quick', 'no-build']) if (values[key]) args.push(`--${key}`);
  for (const key of ['rounds', 'only', 'out']) if (values[key] !== undefined) args.push(`--${key}`, String(values[key]));
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  return r.status ?? 1;
}

export const bench: Command = {
  summary: 'time a restoration (IDM by default, or any model and method) on this machine',
  usage: `invdiff bench [--model FILE|NAME] [--method NAME] [--steps N] [--size N] [--seed N] [--json]
       invdiff bench --all [--quick] [--rounds N] [--only TEXT] [--out DIR] [--no-build]
  --seed N           seeds the test image, the operators and the sampler (default 0)
  --all              the benchmark report of a clone (npm run bench): every workload timed from TS, from C++
                     and from PyTorch's Python API, side by side; its other flags pass through to bench/run.js
${QUIET_HELP}
${METHOD_HELP}`,
  options: {
    ...METHOD_OPTIONS, ...QUIET_OPTIONS, model: { type: 'string' }, size: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' },
    ...REPORT_OPTIONS,
  },
  run(values) {
    if (values.all) return report(values);
    const stray = Object.keys(REPORT_OPTIONS).filter((k) => values[k] !== undefined);
    if (stray.length) throw new UsageError(`bench: --${stray.join(', --')} belong${stray.length > 1 ? '' : 's'} to --all (the whole report)`);
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
