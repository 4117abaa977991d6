#!/usr/bin/env node
// npx invdiff: the command line. One table row per command: its options (util.parseArgs, strict), help text
// and body. Exit codes: 0 done, 1 the work failed, 2 a usage error, 130 interrupted (a checkpoint was saved).
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs, ParseArgsConfig } from 'util';
import { backend, memory } from './backend';
import { manualSeed } from './generated/ops';
import { ImageDataset } from './data/dataset';
import { deadLeaves } from './data/dead-leaves';
import { readImage, readImageFolder, writeImage } from './io/image';
import { psnrPerImage } from './metrics/psnr';
import { ssimPerImage } from './metrics/ssim';
import { load as loadAnyModel, AnyModel } from './models/any';
import { DiffusionModel, Palette, Unconditional } from './models/diffusion';
import { IDM } from './models/idm';
import { moduleKinds } from './module';
import { names, OperatorSpec } from './operators/operator';
import { keep, type Tensor } from './tensor';
import { mmseRestorer, Restorer, restoreImages, SAMPLER_NAMES, SamplerName, samplerRestorer } from './restoration';
import { trainDiffusion } from './training/diffusion';
import { trainIDM } from './training/idm';

class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | string[] | undefined>;

const OPERATOR_OPTIONS: Options = {
  operator: { type: 'string', default: 'blockCS' },
  ratio: { type: 'string' },
  set: { type: 'string', multiple: true },
  noise: { type: 'string' },
};
const OPERATOR_HELP = `  --operator NAME    degradation family (default blockCS): ${names().join(', ')}
  --ratio R          block CS sampling ratio in (0, 1] (default 0.1)
  --set KEY=VALUE    any family option, repeatable (e.g. --set keep=0.3 --set blockSize=16)
  --noise SIGMA      measurement noise standard deviation on [-1, 1] images (default 0)`;

interface Command {
  summary: string;
  usage: string;
  options: Options;
  run(values: Values, positionals: string[]): Promise<number> | number;
}

function number(values: Values, key: string, fallback: number, check: (v: number) => boolean = Number.isFinite, what = 'a number'): number {
  const raw = values[key];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!check(v)) throw new UsageError(`--${key} must be ${what}, got '${raw}'`);
  return v;
}
const positiveInt = (v: number) => Number.isInteger(v) && v > 0;

function operatorSpec(values: Values): OperatorSpec {
  const family = String(values.operator);
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
  return spec;
}

/** Several operators for eval: --operator a,b,… and, for blockCS, --ratio r1,r2,… (each combination). */
function operatorSpecs(values: Values): OperatorSpec[] {
  const specs: OperatorSpec[] = [];
  for (const family of String(values.operator).split(',')) {
    const ratios = family === 'blockCS' && values.ratio !== undefined ? String(values.ratio).split(',') : [values.ratio as string | undefined];
    for (const ratio of ratios) specs.push(operatorSpec({ ...values, operator: family, ratio }));
  }
  return specs;
}

/** Images from a file or a folder (Y channel, as the CS papers use), with their names. */
async function inputs(where: string): Promise<{ name: string; image: Tensor }[]> {
  if (!fs.existsSync(where)) throw new UsageError(`input '${where}' does not exist`);
  if (fs.statSync(where).isDirectory()) {
    const list = await readImageFolder(where, { mode: 'y' });
    if (!list.length) throw new UsageError(`no images in '${where}'`);
    return list;
  }
  return [{ name: path.basename(where), image: await readImage(where, { mode: 'y' }) }];
}

function loadModel(file: string | undefined): AnyModel {
  if (!file) throw new UsageError('--model FILE is required (a model .safetensors, e.g. models/idm-cs10.safetensors or models/unconditional.safetensors)');
  if (!fs.existsSync(file)) throw new UsageError(`--model '${file}' does not exist`);
  return loadAnyModel(file);
}

const METHOD_OPTIONS: Options = { method: { type: 'string' }, steps: { type: 'string' } };
const ZERO_SHOT = ['ddnm', 'ddrm', 'dps', 'pigdm', 'daps'];
const METHOD_HELP = `  --method NAME      how a diffusion model restores: ${ZERO_SHOT.join(', ')} (zero-shot, on an unconditional model;
                     default ddnm), heun, euler, ddim or mmse (on a palette model; default heun). An IDM is itself the method.
  --steps N          sampler steps (default 100 for the zero-shot samplers, 32 for heun/euler/ddim)`;

/** The restoration method a model and --method name: the IDM itself, or a sampler or MMSE on a diffusion model. */
function restorer(model: AnyModel, method: string | undefined, values: Values): Restorer {
  if (model instanceof IDM) {
    if (method && method !== 'idm') throw new UsageError(`--method ${method} does not apply to an IDM model (it is its own method)`);
    return model;
  }
  const name = method ?? (model instanceof Unconditional ? 'ddnm' : 'heun');
  if (name === 'mmse') {
    if (!(model instanceof Palette)) throw new UsageError(`--method mmse needs a conditional (palette) model; an unconditional model's MMSE ignores y`);
    return mmseRestorer(model);
  }
  if (!(SAMPLER_NAMES as readonly string[]).includes(name)) throw new UsageError(`--method must be one of ${[...SAMPLER_NAMES, 'mmse'].join(', ')}, got '${name}'`);
  if (model instanceof Unconditional && !ZERO_SHOT.includes(name))
    throw new UsageError(`--method ${name} on an unconditional model would ignore the measurement; use one of ${ZERO_SHOT.join(', ')}`);
  const steps = number(values, 'steps', ZERO_SHOT.includes(name) ? 100 : 32, positiveInt, 'a positive integer');
  return samplerRestorer(name as SamplerName, model as DiffusionModel, { steps });
}

/** The degradation a model is evaluated on: --operator when given, else what it was trained for, else block CS 10%. */
function evaluationOperator(model: AnyModel, values: Values): OperatorSpec {
  if (values.operator) return operatorSpec(values);
  const trained = JSON.parse(model.metadata['invdiff.trained'] ?? '{}');
  return (trained.operator as OperatorSpec | undefined) ?? (trained.degradations as OperatorSpec[] | undefined)?.[0] ?? operatorSpec({ ...values, operator: 'blockCS' });
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

const commands: Record<string, Command> = {
  info: {
    summary: 'the backend: LibTorch version, CUDA, threads, module kinds',
    usage: 'invdiff info [--json]',
    options: { json: { type: 'boolean' } },
    run(values) {
      const info = { ...backend(), node: process.version, modules: moduleKinds(), memory: memory() };
      if (values.json) console.log(JSON.stringify(info, null, 2));
      else {
        console.log(`invdiff on LibTorch ${info.torch}, Node ${info.node}`);
        console.log(`threads: ${info.threads}; CUDA: ${info.cuda ? `${info.cudaDevices} device(s)` : 'not available'}`);
        console.log(`module kinds: ${info.modules.join(', ')}`);
      }
      return 0;
    },
  },
  train: {
    summary: 'train a model: idm, unconditional or palette (invfussion is not available yet)',
    usage: `invdiff train idm|unconditional|palette --out FILE [options]
  --data DIR         training images, Y channel (default: generated dead-leaves images)
  --steps N          optimisation steps (default 1000)
  --crop N --batch N patch side and batch size (default 64, 4)
  --lr X             Adam learning rate (default 1e-3, halved at 60% and 85% of the steps)
  --channels N       U-Net width (default 16 for idm, 32 otherwise); --blocks N blocks per level (default 1)
  --T N              idm: sampling steps of the unrolled chain (default 3)
  --checkpoint FILE  checkpoint every 100 steps and on Ctrl-C; --resume continues from it
  --plot FILE        a PNG chart of the loss (and validation PSNR), updated with each checkpoint
  --seed N           seeds the initial weights, data order, crops, noise and operators (default 0)
  idm trains for the operator below; palette trains on it as its degradation; unconditional ignores it.
${OPERATOR_HELP}`,
    options: {
      ...OPERATOR_OPTIONS,
      data: { type: 'string' },
      out: { type: 'string' },
      steps: { type: 'string' },
      crop: { type: 'string' },
      batch: { type: 'string' },
      lr: { type: 'string' },
      channels: { type: 'string' },
      blocks: { type: 'string' },
      T: { type: 'string' },
      checkpoint: { type: 'string' },
      plot: { type: 'string' },
      resume: { type: 'boolean' },
      seed: { type: 'string' },
    },
    async run(values, positionals) {
      const kind = positionals[0];
      if (!['idm', 'unconditional', 'palette'].includes(kind))
        throw new UsageError(kind === 'invfussion' ? `training 'invfussion' models is not available yet; idm, unconditional and palette are` : `train needs a model kind: idm, unconditional or palette`);
      if (!values.out) throw new UsageError('--out FILE is required (where the trained model goes)');
      const steps = number(values, 'steps', 1000, positiveInt, 'a positive integer');
      const crop = number(values, 'crop', 64, positiveInt, 'a positive integer');
      const batch = number(values, 'batch', 4, positiveInt, 'a positive integer');
      const seed = number(values, 'seed', 0, Number.isInteger, 'an integer');
      const operator = operatorSpec(values);
      const channels = number(values, 'channels', kind === 'idm' ? 16 : 32, positiveInt, 'a positive integer');
      const blocks = number(values, 'blocks', 1, positiveInt, 'a positive integer');
      if (kind !== 'idm' && values.T !== undefined) throw new UsageError('--T applies to idm only');
      manualSeed(seed); // the initial weights come from LibTorch's global generator, seeded afresh per process
      const model =
        kind === 'idm'
          ? new IDM({ channels, blocks, steps: number(values, 'T', 3, positiveInt, 'a positive integer'), heads: 2 })
          : new (kind === 'palette' ? Palette : Unconditional)({ channels, blocks });
      if (crop % model.sizeMultiple) throw new UsageError(`--crop must be a multiple of ${model.sizeMultiple}`);
      const data = values.data
        ? await ImageDataset.fromFolder(String(values.data), { crop, batch, seed, mode: 'y' })
        : ImageDataset.deadLeaves({ count: 64, size: Math.max(96, crop), imageSeed: 1000, crop, batch, seed });
      const loop = {
        steps, seed, lr: number(values, 'lr', 1e-3, (v) => v > 0, 'a positive number'),
        milestones: [Math.round(steps * 0.6), Math.round(steps * 0.85)],
        checkpoint: values.checkpoint as string | undefined, checkpointEvery: 100, resume: Boolean(values.resume),
        handleInterrupt: true, progress: true, plot: values.plot as string | undefined,
      };
      const result =
        model instanceof IDM
          ? await trainIDM({ ...loop, model, data, operator })
          : await trainDiffusion({ ...loop, model, data, degradations: model instanceof Palette ? [operator] : undefined });
      const trained = model instanceof IDM ? { operator } : model instanceof Palette ? { degradations: [operator] } : {};
      model.save(String(values.out), { 'invdiff.trained': JSON.stringify({ ...trained, steps: result.step, seed }) });
      console.log(`${result.interrupted ? 'interrupted' : 'trained'}: ${result.step} steps in ${result.seconds.toFixed(0)} s, last loss ${result.losses.at(-1)?.toFixed(4)}; model written to ${values.out}`);
      data.dispose();
      return result.interrupted ? 130 : 0;
    },
  },
  restore: {
    summary: 'measure images with an operator and restore them with a model (IDM, or a sampler on a diffusion model); writes PNGs',
    usage: `invdiff restore --model FILE --input IMAGE|DIR --out DIR [options]
  --seed N           operator and sampler seed (image i uses N + i)
  the operator defaults to the one the model was trained for
${METHOD_HELP}
${OPERATOR_HELP}`,
    options: { ...OPERATOR_OPTIONS, ...METHOD_OPTIONS, operator: { type: 'string' }, model: { type: 'string' }, input: { type: 'string' }, out: { type: 'string' }, seed: { type: 'string' } },
    async run(values) {
      if (!values.input) throw new UsageError('--input IMAGE|DIR is required');
      if (!values.out) throw new UsageError('--out DIR is required');
      const model = loadModel(values.model as string | undefined);
      const method = restorer(model, values.method as string | undefined, values);
      const operator = evaluationOperator(model, values);
      const seed = number(values, 'seed', 0, Number.isInteger, 'an integer');
      fs.mkdirSync(String(values.out), { recursive: true });
      for (const [i, { name, image }] of (await inputs(String(values.input))).entries()) {
        const { restored, baseline, seconds } = restoreImages(method, image, operator, { seed: seed + i });
        const stem = path.join(String(values.out), name.replace(/\.[^.]+$/, ''));
        await writeImage(`${stem}.restored.png`, restored);
        await writeImage(`${stem}.pinv.png`, baseline);
        console.log(`${name}: ${method.label} PSNR ${psnrPerImage(restored, image)[0].toFixed(2)} dB (A⁺y ${psnrPerImage(baseline, image)[0].toFixed(2)} dB), ${seconds.toFixed(2)} s -> ${stem}.restored.png`);
        for (const t of [restored, baseline, image]) t.dispose();
      }
      return 0;
    },
  },
  eval: {
    summary: 'a PSNR/SSIM table over a test set for one or more models and methods, as Markdown and JSON',
    usage: `invdiff eval --model FILE[,FILE...] --data DIR [--method NAME[,NAME...]] [--json FILE] [--markdown FILE] [options]
  each model is evaluated with the operator it was trained for unless --operator is given (block CS 10% for an
  unconditional model); --operator a,b and --ratio r1,r2 (block CS) evaluate every combination;
  --method lists the methods to run on each diffusion model (an IDM is its own method)
  --seed N           operator and sampler seed (image i uses N + i)
${METHOD_HELP}
${OPERATOR_HELP}`,
    options: { ...OPERATOR_OPTIONS, ...METHOD_OPTIONS, operator: { type: 'string' }, model: { type: 'string' }, data: { type: 'string' }, json: { type: 'string' }, markdown: { type: 'string' }, seed: { type: 'string' } },
    async run(values) {
      if (!values.data) throw new UsageError('--data DIR is required');
      const files = String(values.model ?? '').split(',').filter(Boolean);
      if (!files.length) throw new UsageError('--model FILE[,FILE...] is required');
      const seed = number(values, 'seed', 0, Number.isInteger, 'an integer');
      const images = (await inputs(String(values.data))).map(({ name, image }) => ({ name, image: keep(image) }));
      type Score = { name: string; psnr: number; ssim: number };
      const rows: { model: string; operator: OperatorSpec; method: string; psnr: number; ssim: number; secondsPerImage: number; images: Score[] }[] = [];
      const score = (name: string, x: Tensor, ref: Tensor): Score => ({ name, psnr: psnrPerImage(x, ref)[0], ssim: ssimPerImage(x, ref)[0] });
      for (const file of files) {
        const model = loadModel(file);
        const methods = model instanceof IDM ? [undefined] : String(values.method ?? '').split(',').filter(Boolean);
        const operators = values.operator ? operatorSpecs(values) : [evaluationOperator(model, values)];
        // Each operator gets an A⁺y row, then a row per method.
        const runs = operators.flatMap((operator) => (methods.length ? methods : [undefined]).map((name, m) => ({ operator, name, first: m === 0 })));
        for (const { operator, name, first } of runs) {
          const method = restorer(model, name, values);
          const per: Score[] = [];
          const pinv: Score[] = [];
          let seconds = 0;
          for (const [i, { name: imageName, image }] of images.entries()) {
            if (process.stderr.isTTY) process.stderr.write(`\r${path.basename(file)} · ${method.label} · ${operator.family}: image ${i + 1}/${images.length}   `);
            const r = restoreImages(method, image, operator, { seed: seed + i });
            seconds += r.seconds;
            per.push(score(imageName, r.restored, image));
            pinv.push(score(imageName, r.baseline, image));
            r.restored.dispose();
            r.baseline.dispose();
          }
          const row = (label: string, list: Score[], s: number) => ({ model: path.basename(file), operator, method: label, psnr: mean(list.map((r) => r.psnr)), ssim: mean(list.map((r) => r.ssim)), secondsPerImage: s, images: list });
          if (first) rows.push(row('A⁺y', pinv, 0));
          rows.push(row(method.label, per, seconds / images.length));
        }
        model.dispose();
      }
      if (process.stderr.isTTY) process.stderr.write('\n');
      const describe = (o: OperatorSpec) => `${o.family}${o.ratio ? ` ${Math.round(Number(o.ratio) * 100)}%` : ''}`;
      const md = [
        `| model | operator | method | PSNR (dB) | SSIM | s/image |`,
        `|---|---|---|---|---|---|`,
        ...rows.map((r) => `| ${r.model} | ${describe(r.operator)} | ${r.method} | ${r.psnr.toFixed(2)} | ${r.ssim.toFixed(4)} | ${r.secondsPerImage ? r.secondsPerImage.toFixed(2) : ''} |`),
      ].join('\n');
      console.log(`${images.length} images from ${values.data}\n\n${md}`);
      if (values.markdown) fs.writeFileSync(String(values.markdown), md + '\n');
      if (values.json) fs.writeFileSync(String(values.json), JSON.stringify(rows, null, 2));
      return 0;
    },
  },
  bench: {
    summary: 'time a restoration (IDM by default, or any model and method) on this machine',
    usage: `invdiff bench [--model FILE] [--method NAME] [--steps N] [--size N] [--seed N] [--json]
  --seed N           seeds the test image, the operators and the sampler (default 0)
${METHOD_HELP}`,
    options: { ...METHOD_OPTIONS, model: { type: 'string' }, size: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' } },
    run(values) {
      const model = values.model ? loadModel(String(values.model)) : new IDM({ channels: 16, blocks: 1, heads: 2 });
      const method = restorer(model, values.method as string | undefined, values);
      const size = number(values, 'size', 128, (v) => positiveInt(v) && v % method.sizeMultiple === 0, `a positive multiple of ${method.sizeMultiple}`);
      const seed = number(values, 'seed', 0, Number.isInteger, 'an integer');
      const image = deadLeaves({ count: 1, size, seed: seed + 1 });
      const operator = { family: 'blockCS', ratio: 0.1 };
      const runs = model instanceof IDM ? 3 : 1;
      let seconds = 0;
      for (let i = -1; i < runs; i++) {
        const r = restoreImages(method, image, operator, { seed: seed + Math.max(i, 0) });
        if (i >= 0) seconds += r.seconds; // the first run warms up
        r.restored.dispose();
        r.baseline.dispose();
      }
      const result = { backend: backend(), method: method.label, size, secondsPerReconstruction: seconds / runs };
      if (values.json) console.log(JSON.stringify(result, null, 2));
      else console.log(`${method.label} restoring one ${size}² image (10% block CS): ${(result.secondsPerReconstruction * 1000).toFixed(0)} ms on ${result.backend.threads} threads`);
      return 0;
    },
  },
};

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
  const { values, positionals } = parseArgs({ args: argv.slice(1), allowPositionals: true, strict: true, options: { ...command.options, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(`usage: ${command.usage}`);
    return 0;
  }
  return command.run(values, positionals);
}

main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  })
  .catch((err: Error & { code?: string }) => {
    const usage = err instanceof UsageError || err.code?.startsWith('ERR_PARSE_ARGS');
    console.error(`invdiff: ${err.message}${usage ? ` (see invdiff ${process.argv[2] ?? ''} --help)` : ''}`);
    process.exitCode = usage ? 2 : 1;
  });

