// npm run demo: the main job. Compressed sensing (scrambled block CS at 10/30/50%) with the shipped IDM
// checkpoints, next to A⁺y and to DDNM (zero-shot) on the shipped unconditional prior, on images invdiff makes
// itself (dead-leaves) or on --data DIR; then InvFussion: one cpu32 model for motion blur, inpainting and a
// random matrix, beside Palette and DDNM on the HDiT prior trained with it (where the clone has them); plus a
// short live IDM training run that shows the loss falling. Writes demo-output/report.html with grids and tables.
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { backend } from './backend';
import { deadLeaves } from './data/dead-leaves';
import { ImageDataset } from './data/dataset';
import { cat, manualSeed } from './generated/ops';
import { readImageFolder } from './io/image';
import { DiffusionModel, Unconditional } from './models/diffusion';
import { IDM } from './models/idm';
import { load as loadModel } from './models/any';
import type { OperatorSpec } from './operators';
import { evaluate, EvaluationRow } from './restoration/evaluate';
import { mmseRestorer, samplerRestorer } from './restoration/methods';
import { Column, htmlTable, SCORE_COLUMNS } from './restoration/report';
import { GridSection, writeReport } from './restoration/report-page';
import type { Method } from './restoration/restore-images';
import { keep, type Tensor } from './tensor';
import { trainIDM } from './training/idm';

const { values: args } = parseArgs({
  options: {
    out: { type: 'string', default: 'demo-output' },
    data: { type: 'string' },
    models: { type: 'string', default: path.resolve(__dirname, '..', 'models') },
    'train-steps': { type: 'string', default: '40' },
    'ddnm-steps': { type: 'string', default: '100' },
    seed: { type: 'string', default: '0' },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(
    'npm run demo [-- --data DIR] [--out DIR] [--train-steps N] [--ddnm-steps N] [--seed N]\nCompressed sensing at 10/30/50%: the shipped IDM checkpoints and DDNM on the shipped unconditional prior, and a short live training run.',
  );
  process.exit(0);
}
const outDir = path.resolve(args.out!);
const trainSteps = Number(args['train-steps']);
const seed = Number(args.seed);
const ddnmSteps = Number(args['ddnm-steps']);
if (!Number.isInteger(trainSteps) || trainSteps < 0) throw new RangeError(`demo: --train-steps must be a non-negative integer, got ${args['train-steps']}`);
if (!Number.isInteger(ddnmSteps) || ddnmSteps < 0) throw new RangeError(`demo: --ddnm-steps must be a non-negative integer (0 skips DDNM), got ${args['ddnm-steps']}`);

const ratioOf = (r: EvaluationRow) => Math.round(Number(r.operator.ratio) * 100);
const COLUMNS: Column<EvaluationRow>[] = [{ header: 'ratio', cell: (r) => `${ratioOf(r)}%` }, ...SCORE_COLUMNS];

const threads = (n: number) => `${n} thread${n === 1 ? '' : 's'}`;

// The InvFussion section's degradations at 32×32, as bench/invfussion measures them.
const INVFUSSION_TASKS: [string, OperatorSpec][] = [
  ['motion blur', { family: 'stridedBlur', stride: 4 }],
  ['inpainting', { family: 'inpainting', patchSize: 4, keep: 0.2 }],
  ['matrix', { family: 'matrix', minRows: 2, maxRows: 128 }],
];
const taskOf = (spec: OperatorSpec) => INVFUSSION_TASKS.find(([, s]) => s === spec)?.[0] ?? spec.family;
const TASK_COLUMNS: Column<EvaluationRow>[] = [{ header: 'degradation', cell: (r) => taskOf(r.operator) }, ...SCORE_COLUMNS];

/** What a part of the demo adds to the report: its rows, its grids and the images to dispose after. */
interface Collected {
  rows: EvaluationRow[];
  sections: GridSection[];
  held: Tensor[];
}

/** One evaluation (A⁺y's row first, kept images) into `into`: its rows, one grid, its images. */
function collect(into: Collected, evaluated: EvaluationRow[], heading: string, file: string, truth: Tensor): void {
  const [baseline, ...results] = evaluated;
  into.rows.push(...evaluated);
  into.sections.push({ heading, file, truth, baseline: baseline.restored![0], results: results.map((r) => ({ label: r.method, images: r.restored![0] })) });
  for (const r of evaluated) into.held.push(...r.restored!);
}

/**
 * InvFussion (one model for every degradation) beside Palette and DDNM on the HDiT prior trained with it, on
 * 32×32 crops of the test images: its rows and grids, or undefined where the clone lacks the cpu32 files.
 */
function invfussionSection(images: Tensor, ddnmSteps: number): Collected | undefined {
  const file = (name: string) => path.join(args.models!, `${name}-cpu32.safetensors`);
  const names = ['invfussion', 'palette', 'unconditional'];
  const missing = names.filter((n) => !fs.existsSync(file(n)));
  if (missing.length) {
    console.log(`(no ${missing.map((n) => `${n}-cpu32`).join(', ')} in ${args.models}: run npm run train:invfussion; InvFussion skipped)`);
    return undefined;
  }
  const [invfussion, palette, prior] = names.map((n) => loadModel(file(n)) as DiffusionModel);
  const crops = keep(images.narrow(2, 0, 32).narrow(3, 0, 32));
  const methods = [
    { ...mmseRestorer(invfussion), label: 'InvFussion MMSE' },
    { ...mmseRestorer(palette), label: 'Palette MMSE' },
    ...(ddnmSteps > 0 ? [samplerRestorer('ddnm', prior, { steps: ddnmSteps })] : []),
  ];
  const part: Collected = { rows: [], sections: [], held: [crops] };
  try {
    for (const [task, spec] of INVFUSSION_TASKS) {
      const evaluated = evaluate({
        methods, operators: [spec], images: crops, seed, keepImages: true, onWarning: () => {},
        onRow: (r) => console.log(`InvFussion ${task.padEnd(12)} ${r.method.padEnd(18)} PSNR ${r.psnr.toFixed(2)} dB  SSIM ${r.ssim.toFixed(4)}`),
      });
      collect(part, evaluated, `InvFussion: ${task}`, `invfussion-${task.replace(' ', '-')}.png`, crops);
    }
  } finally {
    for (const m of [invfussion, palette, prior]) m.dispose();
  }
  return part;
}

async function testImages(): Promise<{ images: Tensor; source: string }> {
  if (args.data) {
    const list = await readImageFolder(args.data, { mode: 'y' });
    // Centre crops of one size, so the images form one batch.
    const side = Math.min(256, ...list.map(({ image }) => Math.min(image.shape[2], image.shape[3])));
    const crops = list.slice(0, 8).map(({ image }) => image.narrow(2, (image.shape[2] - side) >> 1, side).narrow(3, (image.shape[3] - side) >> 1, side));
    return { images: keep(cat(crops, { dim: 0 })), source: `${Math.min(8, list.length)} images from ${args.data} (Y channel, centre ${side}² crops)` };
  }
  return { images: keep(deadLeaves({ count: 4, size: 128, seed: seed + 7, minRadius: 6 })), source: '4 dead-leaves images of 128² (disc radii from 6 pixels) made by invdiff, a synthetic stand-in for natural-image statistics' };
}

async function main(): Promise<void> {
  const started = Date.now();
  fs.mkdirSync(outDir, { recursive: true });
  const b = backend();
  console.log(`invdiff demo: LibTorch ${b.torch}, ${threads(b.threads)}; writing ${path.relative(process.cwd(), outDir) || '.'}/`);
  const { images, source } = await testImages();
  console.log(`test images: ${source}`);
  const cs: Collected = { rows: [], sections: [], held: [] };
  const { rows, sections, held } = cs;
  const priorFile = path.join(args.models!, 'unconditional.safetensors');
  const prior = ddnmSteps > 0 && fs.existsSync(priorFile) ? Unconditional.load(priorFile) : undefined;
  if (ddnmSteps > 0 && !prior) console.log(`(no prior ${priorFile}: run npm run train:diffusion; DDNM skipped)`);
  for (const ratio of [10, 30, 50]) {
    const file = path.join(args.models!, `idm-cs${ratio}.safetensors`);
    const methods: Method[] = [];
    if (fs.existsSync(file)) methods.push(IDM.load(file));
    else console.log(`(no checkpoint ${file}: run npm run train:idm)`);
    if (prior) methods.push(samplerRestorer('ddnm', prior, { steps: ddnmSteps }));
    if (!methods.length) continue;
    const evaluated = evaluate({
      methods, operators: [{ family: 'blockCS', ratio: ratio / 100 }], images, seed, keepImages: true,
      onRow: (r) => console.log(`CS ${ratio}%  ${r.method.padEnd(18)} PSNR ${r.psnr.toFixed(2)} dB  SSIM ${r.ssim.toFixed(4)}${r.secondsPerImage ? `  ${r.secondsPerImage.toFixed(2)} s/image` : ''}`),
    });
    collect(cs, evaluated, `${ratio}%`, `cs${ratio}.png`, images);
    for (const m of methods) if (m instanceof IDM) m.dispose();
  }
  prior?.dispose();
  const fussion = invfussionSection(images, ddnmSteps);
  if (fussion) {
    sections.push(...fussion.sections);
    held.push(...fussion.held);
  }

  // A short live run: an IDM trained from scratch on dead-leaves patches, 10% block CS.
  const losses: number[] = [];
  if (trainSteps > 0) {
    console.log(`live training: IDM from scratch, ${trainSteps} steps on dead-leaves 64² patches, 10% block CS`);
    const data = ImageDataset.deadLeaves({ count: 32, size: 96, imageSeed: 100, crop: 64, batch: 4, seed });
    manualSeed(seed); // --seed fixes the initial weights too
    const model = new IDM({ channels: 16, blocks: 1, heads: 2 });
    const result = await trainIDM({
      model, data, operator: { family: 'blockCS', ratio: 0.1 }, steps: trainSteps, lr: 1e-3, ema: 0, seed,
      onStep: ({ step, loss }) => {
        if (step === 1 || step % 10 === 0 || step === trainSteps) console.log(`  step ${String(step).padStart(3)}/${trainSteps}  L1 loss ${loss.toFixed(4)}`);
      },
    });
    losses.push(...result.losses);
    data.dispose();
    model.dispose();
  }

  const seconds = (Date.now() - started) / 1000;
  // report.json keeps its row shape: the ratio in percent and seconds per image.
  const table = rows.map((r) => ({ ratio: ratioOf(r), method: r.method, psnr: r.psnr, ssim: r.ssim, seconds: r.secondsPerImage }));
  const invfussion = fussion?.rows.map((r) => ({ degradation: taskOf(r.operator), method: r.method, psnr: r.psnr, ssim: r.ssim, seconds: r.secondsPerImage }));
  fs.writeFileSync(path.join(outDir, 'report.json'), JSON.stringify({ torch: b.torch, threads: b.threads, source, rows: table, invfussion, losses, seconds }, null, 2));
  const lossRows = losses.map((l, i) => [i + 1, l] as const).filter(([s]) => s === 1 || s % 5 === 0 || s === losses.length);
  const lossColumns: Column<(typeof lossRows)[number]>[] = [{ header: 'step', cell: ([s]) => String(s) }, { header: 'L1 loss', cell: ([, l]) => l.toFixed(4) }];
  await writeReport(outDir, {
    title: 'invdiff demo: compressed sensing with IDM and DDNM',
    intro: `<p>${source}. Scrambled block compressed sensing (32×32 blocks, orthonormal rows), measured with a fresh permutation per image,
reconstructed by the shipped IDM checkpoints (T = 3 steps, trained by <code>npm run train:idm</code>) and by DDNM
(zero-shot, ${ddnmSteps} steps) on the shipped unconditional prior (trained by <code>npm run train:diffusion</code>), and compared with A⁺y.
LibTorch ${b.torch}, ${threads(b.threads)}, ${seconds.toFixed(0)} s in all.</p>`,
    rows,
    columns: COLUMNS,
    sections,
    extra: `${fussion ? `<h2>InvFussion: one model, three degradations</h2>
<p>32×32 crops of the same images; the shipped cpu32 InvFussion (one-step MMSE), Palette (one-step MMSE) and DDNM
(${ddnmSteps} steps) on the unconditional HDiT trained beside them (<code>npm run train:invfussion</code>). Their grids are below the CS ones.</p>
${htmlTable(fussion.rows, TASK_COLUMNS)}` : ''}<h2>Live training (loss falling)</h2>${htmlTable(lossRows, lossColumns)}`,
  });
  for (const t of held) t.dispose();
  console.log(`report: ${path.join(outDir, 'report.html')} (${seconds.toFixed(0)} s)`);
}

main().catch((e) => {
  console.error(`demo: ${e.message}`);
  process.exit(1);
});
