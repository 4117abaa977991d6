// npm run demo: the end-to-end job on data invdiff makes itself. Until the pipeline issue lands this is a
// tensor pipeline: dead-leaves images, blurred and noisy measurements, a small native conv denoiser trained
// from TS, and a report (PNG grid + PSNR table) in demo-output/.
import * as fs from 'fs';
import * as path from 'path';
import { parseArgs } from 'util';
import { deadLeaves } from './data/dead-leaves';
import { conv2d, randn, tensor, stack } from './generated/ops';
import { encodePng } from './io/png';
import { psnr } from './metrics/psnr';
import { Module } from './module';
import { Adam } from './optim';
import { saveSafetensors } from './safetensors';
import { keep, scope } from './scope';
import { backend } from './backend';
import type { Tensor } from './tensor';

const { values: args } = parseArgs({
  options: { out: { type: 'string', default: 'demo-output' }, steps: { type: 'string', default: '400' }, seed: { type: 'string', default: '0' } },
});
const outDir = path.resolve(args.out!);
const steps = Number(args.steps);
const seed = Number(args.seed);
if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`demo: --steps must be a positive integer, got ${args.steps}`);

// The degradation: a 5×5 Gaussian blur (σ = 1.2) and Gaussian noise (σ = 0.05 on [-1, 1]).
function gaussianKernel(size: number, sigma: number): Tensor {
  const w: number[] = [];
  for (let y = 0; y < size; y++) for (let x = 0; x < size; x++) w.push(Math.exp(-((x - (size - 1) / 2) ** 2 + (y - (size - 1) / 2) ** 2) / (2 * sigma ** 2)));
  const sum = w.reduce((a, b) => a + b, 0);
  return tensor(w.map((v) => v / sum), [1, 1, size, size]);
}
const blur = keep(gaussianKernel(5, 1.2));
const degrade = (x: Tensor, noiseSeed: number) => conv2d(x, blur, { padding: 2 }).add(randn(x.shape, { seed: noiseSeed }).mul(0.05));

// The restorer: three native convolutions with ReLUs, predicting a residual.
const layers = [
  new Module('conv2d', { inChannels: 1, outChannels: 32, kernelSize: 3, padding: 1 }),
  new Module('conv2d', { inChannels: 32, outChannels: 32, kernelSize: 3, padding: 1 }),
  new Module('conv2d', { inChannels: 32, outChannels: 1, kernelSize: 3, padding: 1 }),
];
const restore = (y: Tensor) => y.add(layers[2].call(layers[1].call(layers[0].call(y).relu()).relu()));

function toPng(images: Tensor[], file: string): void {
  // One column per tensor, one row per image; 8-bit, upscaled 3× so small images are visible.
  const rows = images.map((img) => img.squeeze({ dim: 1 }));
  const grid = scope(() => stack(rows, { dim: 0 }).permute([1, 2, 0, 3]).flatten({ startDim: 2 }).flatten({ startDim: 0, endDim: 1 }));
  const [h, w] = grid.shape;
  const values = grid.toFloat32Array();
  grid.dispose();
  const up = 3;
  const px = new Uint8Array(h * up * w * up);
  for (let y = 0; y < h * up; y++) for (let x = 0; x < w * up; x++) px[y * w * up + x] = Math.round(Math.min(1, Math.max(0, (values[Math.floor(y / up) * w + Math.floor(x / up)] + 1) / 2)) * 255);
  fs.writeFileSync(file, encodePng(px, w * up, h * up, 1));
}

function main(): void {
  const started = Date.now();
  fs.mkdirSync(outDir, { recursive: true });
  const b = backend();
  console.log(`invdiff demo — LibTorch ${b.torch}, ${b.threads} threads; writing ${path.relative(process.cwd(), outDir) || '.'}/`);
  const train = keep(deadLeaves({ count: 512, size: 32, seed: seed + 1 }));
  const test = keep(deadLeaves({ count: 8, size: 32, seed: seed + 2 }));
  const testY = keep(degrade(test, seed + 3));

  const params = layers.flatMap((l) => l.parameters());
  const opt = new Adam(params, { lr: 2e-3 });
  const losses: { step: number; loss: number }[] = [];
  const batch = 32;
  const t0 = Date.now();
  for (let step = 1; step <= steps; step++) {
    const loss = scope(() => {
      const idx = randn([batch], { seed: seed * 100003 + step }).argsort();
      const x = train.indexSelect(0, idx);
      opt.zeroGrad();
      const l = restore(degrade(x, seed * 7919 + step)).sub(x).abs().mean();
      l.backward();
      opt.step();
      return l.item();
    });
    if (step === 1 || step % 50 === 0 || step === steps) {
      losses.push({ step, loss });
      const rate = (step * batch) / ((Date.now() - t0) / 1000);
      const eta = (steps - step) * batch / rate;
      console.log(`step ${String(step).padStart(4)}/${steps}  L1 loss ${loss.toFixed(4)}  ${rate.toFixed(0)} img/s  ETA ${eta.toFixed(0)} s`);
    }
  }
  const restored = keep(scope(() => restore(testY)));
  const table = [
    { method: 'measurement y (blurred + noisy)', psnr: psnr(testY, test) },
    { method: 'trained conv restorer', psnr: psnr(restored, test) },
  ];
  saveSafetensors(path.join(outDir, 'restorer.safetensors'), layers.flatMap((l, i) => l.namedParameters().map(([n, t]) => [`${i}.${n}`, t] as [string, Tensor])), { steps: String(steps) });
  toPng([test, testY, restored], path.join(outDir, 'grid.png'));
  const seconds = (Date.now() - started) / 1000;
  const report = { torch: b.torch, threads: b.threads, steps, seconds, losses, table };
  fs.writeFileSync(path.join(outDir, 'report.json'), JSON.stringify(report, null, 2));
  fs.writeFileSync(
    path.join(outDir, 'report.html'),
    `<!doctype html><meta charset="utf-8"><title>invdiff demo</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:.3em 1em;text-align:left}img{image-rendering:pixelated}</style>
<h1>invdiff demo</h1>
<p>Dead-leaves images (32×32), blurred (Gaussian σ 1.2) with noise σ 0.05, restored by a 3-layer native conv net trained for ${steps} steps from TypeScript on LibTorch ${b.torch} (${seconds.toFixed(0)} s in all).</p>
<table><tr><th>method</th><th>PSNR (dB)</th></tr>${table.map((r) => `<tr><td>${r.method}</td><td>${r.psnr.toFixed(2)}</td></tr>`).join('')}</table>
<h2>Images</h2><p>Columns: ground truth, measurement, restoration; one row per held-out image.</p><img src="grid.png" alt="ground truth, measurement and restoration">
<h2>Training loss</h2><table><tr><th>step</th><th>L1 loss</th></tr>${losses.map((l) => `<tr><td>${l.step}</td><td>${l.loss.toFixed(4)}</td></tr>`).join('')}</table>
`,
  );
  for (const r of table) console.log(`${r.method.padEnd(34)} PSNR ${r.psnr.toFixed(2)} dB`);
  console.log(`report: ${path.join(outDir, 'report.html')} (${seconds.toFixed(0)} s)`);
}

main();
