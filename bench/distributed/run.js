#!/usr/bin/env node
'use strict';
// bench/distributed: data-parallel IDM training on c10d (Gloo over loopback) at 1 and 2 processes of one
// thread each: images/s, scaling efficiency = 2-process img/s ÷ (2 × 1-process img/s), and per step the
// compute (forward + backward) beside the gradient allreduce; then the allreduce alone (after a barrier) of
// the gradients and of 1M floats, for the bandwidth. The machine's load average is printed with the figures:
// on a shared machine they are only as good as the cores were free.
//   node bench/distributed/run.js [--steps N] [--batch B]
const { spawn } = require('child_process');
const net = require('net');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const STEPS = arg('steps', 8);
const BATCH = arg('batch', 4); // per process
const WARMUP = 2;

// One rank: times STEPS training steps after WARMUP, then the allreduce alone.
async function rank() {
  const inv = require(root);
  inv.setNumThreads(1);
  const world = Number(process.env.WORLD_SIZE);
  const parallel = world > 1;
  if (parallel) await inv.distributed.initAsync({ timeoutMs: 120_000 });
  inv.manualSeed(1);
  const model = new inv.models.IDM({});
  model.train();
  const params = model.parameters();
  const optimizer = new inv.optim.Adam(params, { lr: 1e-4 });
  if (parallel) await inv.distributed.broadcastModuleAsync(model);
  const x = inv.rand([BATCH, 1, 64, 64], { seed: 1 + inv.distributed.rank });
  const A = inv.operators.create('blockCS', { imageShape: [1, 64, 64], batch: BATCH, seed: 3, ratio: 0.1 });
  const y = A.forward(x);
  const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
  const compute = [];
  const computeCpu = []; // this process's CPU time: beside the wall time, it tells waiting for a core from work
  const reduce = [];
  let started;
  for (let s = 0; s < WARMUP + STEPS; s++) {
    if (s === WARMUP) {
      if (parallel) await inv.distributed.barrierAsync();
      started = process.hrtime.bigint();
    }
    const t0 = process.hrtime.bigint();
    const cpu0 = process.cpuUsage();
    optimizer.zeroGrad();
    inv.scope(() => model.reconstruct(A, y).sub(x).abs().mean().backward());
    const t1 = process.hrtime.bigint();
    const cpu = process.cpuUsage(cpu0);
    if (parallel) await inv.distributed.averageGradientsAsync(params);
    const t2 = process.hrtime.bigint();
    optimizer.step();
    if (s >= WARMUP) {
      compute.push(Number(t1 - t0) / 1e6);
      computeCpu.push((cpu.user + cpu.system) / 1000);
      reduce.push(Number(t2 - t1) / 1e6);
    }
  }
  if (parallel) await inv.distributed.barrierAsync();
  const wall = ms(started);
  const out = { rank: inv.distributed.rank, world, imagesPerSecond: (STEPS * BATCH * world) / (wall / 1000), compute, computeCpu, reduce, parameters: params.reduce((a, p) => a + p.numel, 0) };
  if (parallel) {
    // The collectives alone, every rank ready: the gradients (bucketed as in training) and 1M floats.
    const alone = async (fn) => {
      const times = [];
      for (let i = 0; i < 7; i++) {
        await inv.distributed.barrierAsync();
        const t0 = process.hrtime.bigint();
        await fn();
        times.push(ms(t0));
      }
      return times.sort((a, b) => a - b)[3];
    };
    out.gradientAllReduceMs = await alone(() => inv.distributed.averageGradientsAsync(params));
    const big = inv.zeros([1 << 20]);
    out.millionFloatsMs = await alone(() => inv.distributed.allReduceAsync(big));
    inv.distributed.destroy();
  }
  process.stdout.write(JSON.stringify(out));
}

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function run(world) {
  const port = await freePort();
  return Promise.all(
    Array.from({ length: world }, (_, r) =>
      new Promise((resolve, reject) => {
        const env = { ...process.env, INVDIFF_BENCH_RANK: '1', RANK: String(r), WORLD_SIZE: String(world), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), OMP_NUM_THREADS: '1' };
        const child = spawn(process.execPath, [__filename], { env, stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`rank ${r} of ${world} exited ${code}`))));
      }),
    ),
  );
}

const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;

async function main() {
  const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' / ');
  console.log(`## Data-parallel IDM training on c10d/Gloo (loopback), ${os.cpus().length} cores, 1 thread per process\n`);
  console.log(`IDM defaults (channels 32), batch ${BATCH} × 1×64×64 per process, 10% block CS, ${STEPS} timed steps after ${WARMUP}.`);
  const loadBefore = load();
  const [one] = await run(1);
  const two = await run(2);
  const loadAfter = load();
  const bytes = one.parameters * 4;
  console.log(`Parameters: ${one.parameters} (${(bytes / 2 ** 20).toFixed(2)} MiB of float32 gradients per step).`);
  console.log(`Load average (1 / 5 / 15 min) before: ${loadBefore}; after: ${loadAfter}.\n`);
  console.log('| processes | img/s | compute ms/step (wall) | compute CPU ms/step | allreduce ms/step (incl. waiting for the slower rank) |');
  console.log('|---|---|---|---|---|');
  console.log(`| 1 | ${one.imagesPerSecond.toFixed(2)} | ${mean(one.compute).toFixed(0)} | ${mean(one.computeCpu).toFixed(0)} | — |`);
  const each = (f) => two.map((r) => f(r)).join(' / ');
  console.log(`| 2 | ${two[0].imagesPerSecond.toFixed(2)} | ${each((r) => mean(r.compute).toFixed(0))} | ${each((r) => mean(r.computeCpu).toFixed(0))} | ${each((r) => mean(r.reduce).toFixed(1))} |`);
  const efficiency = two[0].imagesPerSecond / (2 * one.imagesPerSecond);
  console.log(`\nScaling efficiency (2-process img/s ÷ 2 × 1-process img/s): **${efficiency.toFixed(3)}** (goal ≥ 0.9).`);
  // What the communication alone costs: one allreduce of the gradients per step of 1-process compute.
  const share = two[0].gradientAllReduceMs / mean(one.compute);
  console.log(`The gradient allreduce alone is ${(100 * share).toFixed(2)}% of a 1-process step: with a free core per process, efficiency ≈ ${(1 / (1 + share)).toFixed(3)}.`);
  const r0 = two[0];
  console.log(`Allreduce alone, every rank ready (median of 7): the gradients ${r0.gradientAllReduceMs.toFixed(2)} ms ` +
    `(${((bytes / 1e9) / (r0.gradientAllReduceMs / 1000)).toFixed(2)} GB/s of gradient); 1M floats ${r0.millionFloatsMs.toFixed(2)} ms ` +
    `(${((4 * 2 ** 20) / 1e9 / (r0.millionFloatsMs / 1000)).toFixed(2)} GB/s).`);
}

(process.env.INVDIFF_BENCH_RANK ? rank() : main()).catch((err) => {
  console.error(`bench/distributed: ${err.message}`);
  process.exit(1);
});
