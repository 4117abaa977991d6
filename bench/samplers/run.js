#!/usr/bin/env node
'use strict';
// bench/samplers: per sampler, ms per NFE and the sampler's own time outside the denoiser (its arithmetic),
// with a toy native conv network (8×3×32×32, 3→64→64→3, EDM preconditioning), with the exact Gaussian
// denoiser, and with the project's own small U-Net (the shipped Unconditional configuration, the prior the
// zero-shot solvers run on; 4×1×64×64), next to the same samplers in PyTorch (Python) on the same LibTorch.
// Goals: TS overhead below 5% of a small network's NFE cost, TS/Python ≤ 1.0.
const { spawn, spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const inv = require('../..');

const PYTHON = '/usr/bin/python3';
const threads = os.availableParallelism?.() ?? os.cpus().length;
inv.setNumThreads(threads);
const [B, C, H] = [8, 3, 32];

// A timed denoiser: the sampler's overhead is the total minus the time spent in here. Its temporaries are
// freed inside the timer, as Python frees them inside the network call.
function timed(denoise) {
  const d = {
    spent: 0n,
    denoise(x, s, ctx) {
      const t0 = process.hrtime.bigint();
      const out = inv.scope(() => denoise(x, s, ctx));
      d.spent += process.hrtime.bigint() - t0;
      return out;
    },
  };
  return d;
}

inv.manualSeed(0);
const layers = [
  new inv.Module('conv2d', { inChannels: C, outChannels: 64, kernelSize: 3, padding: 1 }),
  new inv.Module('conv2d', { inChannels: 64, outChannels: 64, kernelSize: 3, padding: 1 }),
  new inv.Module('conv2d', { inChannels: 64, outChannels: C, kernelSize: 3, padding: 1 }),
];
const sd = 0.5;
// Each intermediate is freed as soon as the next op has read it, as Python's reference counting frees the
// PyTorch side's, so both networks reuse the same warm buffers.
const then = (t, f) => {
  const out = f(t);
  t.dispose();
  return out;
};
const network = (x, s) => {
  const cIn = 1 / Math.sqrt(s * s + sd * sd);
  const steps = [(h) => layers[0].call(h), (h) => h.relu(), (h) => layers[1].call(h), (h) => h.relu(), (h) => layers[2].call(h)];
  const scaled = then(steps.reduce(then, x.mul(cIn)), (h) => h.mul((s * sd) / Math.sqrt(s * s + sd * sd)));
  return then(scaled, (h) => then(x.mul((sd * sd) / (s * s + sd * sd)), (k) => k.add(h)));
};
// The exact MMSE denoiser of a unit Gaussian prior: x / (1 + σ²).
const gaussian = (x, s) => x.div(1 + s * s);

const A = inv.operators.create('inpainting', { imageShape: [C, H, H], keep: 0.5, seed: 1 });
const y = inv.keep(A.forward(inv.randn([B, C, H, H], { seed: 2 })));
const samplers = {
  heun: (d) => inv.samplers.heun(d, { shape: [B, C, H, H], steps: 18 }),
  euler: (d) => inv.samplers.euler(d, { shape: [B, C, H, H], steps: 35 }),
  ddim: (d) => inv.samplers.ddim(d, { shape: [B, C, H, H], steps: 35, eta: 0.5 }),
  ddnm: (d) => inv.samplers.ddnm(d, { operator: A, y, steps: 35 }),
  ddrm: (d) => inv.samplers.ddrm(d, { operator: A, y, steps: 35 }),
  pigdm: (d) => inv.samplers.pigdm(d, { operator: A, y, steps: 35 }),
  dps: (d) => inv.samplers.dps(d, { operator: A, y, steps: 35 }),
  daps: (d) => inv.samplers.daps(d, { operator: A, y, steps: 7, odeSteps: 5, langevinSteps: 20 }),
};

// One timed run: ms per NFE, and the time outside the denoiser per NFE.
function once(run, denoise) {
  const d = timed(denoise);
  const t0 = process.hrtime.bigint();
  const result = run(d);
  const total = Number(process.hrtime.bigint() - t0) / 1e6;
  result.images.dispose();
  const inside = Number(d.spent) / 1e6;
  return { msPerNfe: total / result.nfe, overheadMsPerNfe: (total - inside) / result.nfe };
}

// The median of several runs, per column: robust to the odd preempted or GC-hit run on either side.
function median(runs) {
  const mid = (values) => values.sort((a, b) => a - b)[values.length >> 1];
  return { msPerNfe: mid(runs.map((r) => r.msPerNfe)), overheadMsPerNfe: mid(runs.map((r) => r.overheadMsPerNfe)) };
}

// The median of three after a warm-up.
function measure(run, denoise) {
  run(timed(denoise)).images.dispose();
  return median([0, 1, 2].map(() => once(run, denoise)));
}

// The shipped prior's configuration (scripts/train-diffusion.js); timing does not depend on the weights.
const unet = new inv.models.Unconditional({ channels: 48, multipliers: [1, 2, 2], blocks: 1, heads: 4 });
const U = [4, 1, 64, 64];
const A1 = inv.operators.create('inpainting', { imageShape: U.slice(1), keep: 0.5, seed: 1 });
const y1 = inv.keep(A1.forward(inv.randn(U, { seed: 2 })));
const unetSamplers = {
  heun: (d) => inv.samplers.heun(d, { shape: U, steps: 18 }),
  euler: (d) => inv.samplers.euler(d, { shape: U, steps: 35 }),
  ddim: (d) => inv.samplers.ddim(d, { shape: U, steps: 35, eta: 0.5 }),
  ddnm: (d) => inv.samplers.ddnm(d, { operator: A1, y: y1, steps: 35 }),
  ddrm: (d) => inv.samplers.ddrm(d, { operator: A1, y: y1, steps: 35 }),
  pigdm: (d) => inv.samplers.pigdm(d, { operator: A1, y: y1, steps: 35 }),
  dps: (d) => inv.samplers.dps(d, { operator: A1, y: y1, steps: 35 }),
  daps: (d) => inv.samplers.daps(d, { operator: A1, y: y1, steps: 7, odeSteps: 5, langevinSteps: 20 }),
};

// The Python side runs with the allocator policy the addon sets (native/core/memory.cpp), so both sides'
// networks cost the same, and as a server that times one sampler per line it reads: this machine's speed
// drifts by up to 2× over minutes, so the sides take turns, five times per sampler, and each reports its medians.
function startPython() {
  if (!fs.existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) return undefined;
  const env = { ...process.env, MALLOC_MMAP_THRESHOLD_: String(32 << 20), MALLOC_TRIM_THRESHOLD_: String(1 << 30) };
  const child = spawn(PYTHON, [path.join(__dirname, 'python_side.py'), String(threads)], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout });
  const waiting = [];
  lines.on('line', (line) => waiting.shift()?.resolve(JSON.parse(line)));
  child.on('exit', (code) => waiting.splice(0).forEach((w) => w.reject(new Error(`bench: the Python side exited with ${code}`))));
  return {
    time: (name) => new Promise((resolve, reject) => {
      waiting.push({ resolve, reject });
      child.stdin.write(`${name}\n`);
    }),
    close: () => child.stdin.end(),
  };
}

async function main() {
  const python = startPython();
  if (!python) console.log('bench: PyTorch for /usr/bin/python3 is missing (npm run bench installs it on Debian); Python columns skipped');
  const ts = {};
  const py = {};
  for (const [name, run] of Object.entries(samplers)) {
    run(timed(network)).images.dispose(); // warm-up
    ts[name] = { exact: measure(run, gaussian) };
    const turns = { ts: [], py: [] };
    for (let turn = 0; turn < 5; turn++) {
      turns.ts.push(once(run, network));
      if (python) turns.py.push(await python.time(name));
    }
    ts[name].network = median(turns.ts);
    if (python) py[name] = median(turns.py);
    ts[name].unet = measure(unetSamplers[name], (x, s, ctx) => unet.denoise(x, s, ctx));
  }
  python?.close();
  report(ts, py);
}

// The sampler's own time as a share of the denoiser's.
const share = (r) => `${((100 * r.overheadMsPerNfe) / (r.msPerNfe - r.overheadMsPerNfe)).toFixed(1)}%`;

function report(ts, py) {
  console.log(`bench/samplers — ${B}×${C}×${H}×${H}, LibTorch ${inv.backend().torch}, ${threads} threads`);
  console.log(
    '| sampler | ms/NFE, toy network (TS) | overhead/NFE (TS) | overhead share (TS, goal < 5%) | ms/NFE (Python) | overhead/NFE (Python) | overhead share (Python) ' +
      '| TS/Python per NFE (goal ≤ 1.0) | TS/Python overhead | ms/NFE, exact denoiser (TS) | ms/NFE, U-Net (TS) | overhead share, U-Net |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [name, r] of Object.entries(ts)) {
    const p = py[name];
    const vjpNote = name === 'dps' || name === 'pigdm' ? ' (includes the VJP backward)' : '';
    const cells = [
      name,
      r.network.msPerNfe.toFixed(2),
      r.network.overheadMsPerNfe.toFixed(3) + vjpNote,
      share(r.network),
      p ? p.msPerNfe.toFixed(2) : '-',
      p ? p.overheadMsPerNfe.toFixed(3) : '-',
      p ? share(p) : '-',
      p ? (r.network.msPerNfe / p.msPerNfe).toFixed(2) : '-',
      p ? (r.network.overheadMsPerNfe / p.overheadMsPerNfe).toFixed(2) : '-',
      r.exact.msPerNfe.toFixed(3),
      r.unet.msPerNfe.toFixed(1),
      share(r.unet),
    ];
    console.log(`| ${cells.join(' | ')} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
