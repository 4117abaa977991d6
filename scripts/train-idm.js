#!/usr/bin/env node
'use strict';
// Trains the IDM checkpoints the package ships (models/idm-cs<ratio>.safetensors), reproducibly:
//   node scripts/train-idm.js [--ratios 10,30,50] [--steps 5000] [--data DIR] [--out models] [--resume] [--jobs N]
// Patches come from --data (default ../shared/data/Train400 when present, else generated dead-leaves images).
// Prints Set11 PSNR (when ../shared/data/Set11 exists), wall time, and writes the EMA weights.
// Several ratios train in parallel, one process per ratio with one thread each (--jobs, default the core
// count): this small network's ops are too small for intra-op threads, which made a step 2.6× slower.
const fs = require('fs');
const path = require('path');
const { parseArgs } = require('util');
const { spawn } = require('child_process');
const os = require('os');
const inv = require('..');

const { values } = parseArgs({
  options: {
    ratios: { type: 'string', default: '10,30,50' },
    steps: { type: 'string', default: '5000' },
    jobs: { type: 'string', default: String(os.availableParallelism?.() ?? os.cpus().length) },
    data: { type: 'string' },
    out: { type: 'string', default: path.resolve(__dirname, '..', 'models') },
    resume: { type: 'boolean', default: false },
    seed: { type: 'string', default: '0' },
  },
});
const shared = path.resolve(__dirname, '..', '..', 'shared', 'data');
const dataDir = values.data ?? (fs.existsSync(path.join(shared, 'Train400')) ? path.join(shared, 'Train400') : undefined);

// The shipped model: sized so a 2-core CPU trains it in minutes.
const MODEL = { channels: 16, blocks: 1, heads: 2, steps: 3 };

// One child per ratio, at most --jobs at a time; each child trains a single ratio on one thread.
async function parallel(ratios) {
  const pending = [...ratios];
  let failed = 0;
  const worker = async () => {
    for (let ratio; (ratio = pending.shift()) !== undefined; ) {
      const args = [__filename, '--ratios', ratio, '--steps', values.steps, '--out', values.out, '--seed', values.seed, ...(values.data ? ['--data', values.data] : []), ...(values.resume ? ['--resume'] : [])];
      const code = await new Promise((done) => {
        const child = spawn(process.execPath, args, { env: { ...process.env, INVDIFF_NUM_THREADS: '1' }, stdio: ['ignore', 'pipe', 'inherit'] });
        child.stdout.on('data', (d) => process.stdout.write(String(d).replace(/^(?=.)/gm, `[${ratio}%] `)));
        child.on('exit', done);
      });
      if (code !== 0) failed++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Number(values.jobs)) }, worker));
  process.exit(failed ? 1 : 0);
}

(async () => {
  fs.mkdirSync(values.out, { recursive: true });
  const ratios = values.ratios.split(',');
  if (ratios.length > 1) return parallel(ratios);
  const seed = Number(values.seed);
  for (const ratio of values.ratios.split(',').map(Number)) {
    const data = dataDir
      ? await inv.ImageDataset.fromFolder(dataDir, { crop: 64, batch: 4, seed, mode: 'y' })
      : inv.ImageDataset.deadLeaves({ count: 64, size: 128, imageSeed: 1000, crop: 64, batch: 4, seed });
    inv.manualSeed(seed); // the initial weights: LibTorch seeds its global generator afresh in every process
    const model = new inv.models.IDM(MODEL);
    const operator = { family: 'blockCS', ratio: ratio / 100 };
    const steps = Number(values.steps);
    const started = Date.now();
    const result = await inv.training.trainIDM({
      model, data, operator, steps, lr: 1e-3, milestones: [Math.round(steps * 0.6), Math.round(steps * 0.85)], seed,
      checkpoint: path.join(values.out, `idm-cs${ratio}.checkpoint.safetensors`), checkpointEvery: 100, resume: values.resume,
      handleInterrupt: true, progress: false,
      onStep: ({ step, loss, imagesPerSecond, etaSeconds }) => {
        if (step % 250 === 0) console.log(`step ${step}/${steps} loss ${loss.toFixed(4)} ${imagesPerSecond.toFixed(1)} img/s, ${Math.round(etaSeconds / 60)} min left`);
      },
    });
    const file = path.join(values.out, `idm-cs${ratio}.safetensors`);
    model.save(file, { 'invdiff.trained': JSON.stringify({ operator, steps: result.step, seconds: Math.round((Date.now() - started) / 1000), data: dataDir ? path.basename(dataDir) : 'dead-leaves', crop: 64, batch: 4, seed }) });
    inv.models.writeCard(file, { name: `idm-cs${ratio}`, trainedFor: [operator], data: dataDir ? path.basename(dataDir) : 'dead-leaves', steps: result.step });
    console.log(`ratio ${ratio}%: ${result.step} steps in ${((Date.now() - started) / 60000).toFixed(1)} min, final loss ${result.losses.at(-1).toFixed(4)} -> ${file}`);
    if (fs.existsSync(path.join(shared, 'Set11'))) {
      const set11 = inv.cat((await inv.io.readImageFolder(path.join(shared, 'Set11'), { mode: 'y' })).map((i) => i.image).filter((t) => t.shape[2] === 256), { dim: 0 });
      const { restored, baseline, seconds } = inv.restoreImages(model, set11, operator);
      console.log(`  Set11 (${set11.shape[0]} images of 256²): IDM ${inv.metrics.psnr(restored, set11).toFixed(2)} dB, A⁺y ${inv.metrics.psnr(baseline, set11).toFixed(2)} dB, ${(seconds / set11.shape[0]).toFixed(2)} s/image`);
    }
    if (result.interrupted) process.exit(130);
    data.dispose();
  }
})().catch((e) => {
  console.error(`train-idm: ${e.message}`);
  process.exit(1);
});
