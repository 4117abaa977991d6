'use strict';
// Data-parallel training on c10d (issue 18): collectives across 2 and 3 local processes, bucketed gradient
// averaging equal to one flat allreduce, N ranks training alike and as one process on the same global batch,
// a killed rank reported by name to the others, and the last checkpoint resuming on another world size.
// Every process runs under a timeout, on a free port of its own.
const test = require('tape');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const { spawn } = require('child_process');
const inv = require('..');
const { maxAbsDiff } = require('./helpers');

const worker = path.join(__dirname, 'fixtures', 'distributed-worker.js');
const LIMIT_MS = 120_000;

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Starts worldSize ranks of the worker; resolves with [{ rank, code, signal, stderr, result, ms }] once all exit.
async function launch(worldSize, mode, options = {}) {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-dist-'));
  const port = await freePort();
  const started = Date.now();
  const ranks = Array.from({ length: worldSize }, (_, rank) =>
    new Promise((resolve) => {
      const env = { ...process.env, RANK: String(rank), WORLD_SIZE: String(worldSize), LOCAL_RANK: String(rank), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) };
      const child = spawn(process.execPath, [worker, mode, out, JSON.stringify({ ...options, checkpoint: options.checkpoint && path.resolve(out, options.checkpoint) })], { env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const file = path.join(out, `rank-${rank}.json`);
        resolve({ rank, code, signal, stderr, ms: Date.now() - started, result: fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : undefined });
      });
    }),
  );
  return { out, ranks: await Promise.all(ranks) };
}

function allExitedCleanly(t, ranks) {
  for (const r of ranks) t.equal(r.code, 0, `rank ${r.rank} exits 0${r.code ? `: ${r.stderr.trim()}` : ''}`);
}

test('ImageDataset.shard: N ranks of batch b read the global batches of one shard of batch N·b, across epochs and restores', (t) => {
  const make = (rank, worldSize, batch) => {
    const d = inv.ImageDataset.deadLeaves({ count: 5, size: 20, crop: 12, batch, seed: 9 });
    d.shard({ rank, worldSize });
    return d;
  };
  const values = (x) => Array.from(x.toFloat32Array());
  const one = make(0, 1, 6);
  const ranks = [0, 1, 2].map((r) => make(r, 3, 2));
  for (let step = 0; step < 4; step++) {
    const global = one.next();
    const parts = ranks.map((d) => d.next());
    t.deepEqual(values(inv.cat(parts, { dim: 0 })), values(global), `step ${step}: the 3 shards are the global batch in rank order (epoch ${one.epoch})`);
  }
  const state = one.state();
  t.equal(state.consumed, 24, 'the state counts global samples');
  // Resume on 2 ranks of batch 3: the same global batches follow.
  const after = one.next();
  const two = [0, 1].map((r) => make(r, 2, 3));
  for (const d of two) d.restore(state);
  t.deepEqual(values(inv.cat(two.map((d) => d.next()), { dim: 0 })), values(after), 'restored on another world size, the next global batch follows');
  const plain = inv.ImageDataset.deadLeaves({ count: 5, size: 20, crop: 12, batch: 2 });
  t.throws(() => plain.restore(state), /state is of a sharded \(distributed\) dataset; shard\(\) this one too/, 'an unsharded dataset refuses a sharded state');
  t.throws(() => two[0].restore(plain.state()), /state is of an unsharded dataset/, 'and the other way round');
  t.throws(() => plain.shard({ rank: 2, worldSize: 2 }), /'rank' must be an integer in \[0, 1\]/, 'rank past the world');
  t.throws(() => plain.shard({ rank: 0, worldSize: 0 }), /'worldSize' must be a positive integer/, 'worldSize 0');
  for (const d of [one, plain, ...ranks, ...two]) d.dispose();
  t.end();
});

test('distributed: options are checked with errors naming them, and collectives need init()', (t) => {
  t.throws(() => inv.distributed.allReduce(inv.ones([2])), /call inv\.distributed\.init\(\) first/, 'allReduce before init');
  t.throws(() => inv.distributed.barrier(), /init\(\) first/, 'barrier before init');
  t.throws(() => inv.distributed.init({ rank: 2, worldSize: 2 }), /option 'rank' must be an integer in \[0, 1\]/, 'rank past the world');
  t.throws(() => inv.distributed.init({ worldSize: 0 }), /option 'worldSize'/, 'worldSize 0');
  t.throws(() => inv.distributed.init({ masterPort: 70000 }), /option 'masterPort' must be an integer in \[1, 65535\]/, 'port out of range');
  t.throws(() => inv.distributed.init({ timeoutMs: -1 }), /option 'timeoutMs'/, 'negative timeout');
  t.throws(() => inv.distributed.init({ rnak: 0 }), /unknown option 'rnak'.*rank/, 'a misspelt option');
  const saved = process.env.WORLD_SIZE;
  process.env.WORLD_SIZE = 'two';
  t.throws(() => inv.distributed.init(), /environment variable WORLD_SIZE \('two'\)/, 'a bad WORLD_SIZE is named');
  if (saved === undefined) delete process.env.WORLD_SIZE;
  else process.env.WORLD_SIZE = saved;
  t.equal(inv.distributed.isInitialized(), false, 'nothing joined');
  t.equal(inv.distributed.destroy(), false, 'destroy without a group');
  t.end();
});

test('distributed: a group of one: identity collectives, bad arguments rejected, destroy', async (t) => {
  await inv.distributed.initAsync({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: await freePort(), timeoutMs: 10_000 });
  t.equal(inv.distributed.rank, 0, 'rank');
  t.equal(inv.distributed.worldSize, 1, 'worldSize');
  t.throws(() => inv.distributed.init({ worldSize: 1 }), /already initialised/, 'a second init');
  const x = inv.tensor([1, 2, 3], [3]);
  t.deepEqual(Array.from(inv.distributed.allReduce(x, { op: 'avg' }).toFloat32Array()), [1, 2, 3], 'avg of one');
  t.throws(() => inv.distributed.allReduce(x, { op: 'mean' }), /option 'op' must be one of 'sum', 'avg'/, 'unknown op');
  t.throws(() => inv.distributed.broadcast(x, { src: 1 }), /option 'src' must be a rank in \[0, 0\], got 1/, 'src past the world');
  t.throws(() => inv.distributed.allReduce([1, 2]), /argument 'tensor' expected a Tensor/, 'not a tensor');
  t.throws(() => inv.distributed.allReduce(inv.ones([2, 3]).transpose(0, 1)), /must be contiguous/, 'a strided view');
  t.throws(() => inv.distributed.averageGradients([x], { bucketBytes: 0 }), /option 'bucketBytes' must be a positive integer/, 'bucketBytes 0');
  await inv.distributed.barrierAsync();
  t.equal(inv.distributed.destroy(), true, 'destroy');
  t.equal(inv.distributed.worldSize, 1, 'back to one process');
  t.end();
});

test('distributed: a rank waiting for a world that never comes stops at the timeout, naming the master', async (t) => {
  const port = await freePort();
  const started = Date.now();
  const error = await inv.distributed.initAsync({ rank: 1, worldSize: 2, masterPort: port, timeoutMs: 1500 }).catch((e) => e);
  t.match(String(error?.message), /^distributed \(rank 1 of 2\): no rendezvous with the master at 127\.0\.0\.1:\d+ within 1500 ms/, 'rank 1 without a master');
  t.ok(Date.now() - started < 30_000, 'no hang');
  t.equal(inv.distributed.isInitialized(), false, 'nothing joined');
});

for (const worldSize of [2, 3]) {
  test(`distributed: ${worldSize} processes: allreduce, broadcast, barrier, queued order, bucketed = flat gradient averaging, module broadcast`, async (t) => {
    const { ranks } = await launch(worldSize, 'collectives');
    allExitedCleanly(t, ranks);
    if (ranks.some((r) => !r.result)) return;
    const n = worldSize;
    const tri = (n * (n + 1)) / 2;
    for (const { rank, result: r } of ranks) {
      t.deepEqual(r.sum, [tri, 10 * tri, -((n - 1) * n) / 2], `rank ${rank}: sum`);
      t.deepEqual(r.avg, [tri / n, (10 * tri) / n, -(n - 1) / 2], `rank ${rank}: avg`);
      t.deepEqual([r.max, r.min], [[n, 10 * n, 0], [1, 10, -(n - 1)]], `rank ${rank}: max, min`);
      t.deepEqual(r.broadcast, [n - 1, n - 1], `rank ${rank}: broadcast from the last rank`);
      t.deepEqual(r.queued, [0, 1, 2].map((i) => 10 * tri - 10 * n + n * i), `rank ${rank}: three queued allreduces, each matched with its own`);
      t.ok(maxAbsDiff(r.bucketed, r.flat) <= 1e-6, `rank ${rank}: gradients in 40-byte buckets equal one flat allreduce`);
      t.ok(maxAbsDiff(r.flat, r.mean) <= 1e-6, `rank ${rank}: and the mean of the ranks' gradients`);
      t.deepEqual(r.module, ranks[0].result.module, `rank ${rank}: the module holds rank 0's weights`);
    }
  });
}

function params(t, ranks, what) {
  allExitedCleanly(t, ranks);
  if (ranks.some((r) => !r.result)) return undefined;
  for (const r of ranks.slice(1)) t.equal(maxAbsDiff(r.result.params, ranks[0].result.params), 0, `${what}: rank ${r.rank} holds exactly rank 0's parameters`);
  return ranks[0].result;
}

test('distributed: 2 and 3 ranks of batch b train as one process of batch N·b (SGD: to float rounding; trainIDM with Adam: the same losses)', async (t) => {
  const steps = 3;
  const one = params(t, (await launch(1, 'sgd', { batch: 6, steps })).ranks, 'SGD, 1 process');
  const two = params(t, (await launch(2, 'sgd', { batch: 3, steps })).ranks, 'SGD, 2 processes');
  const three = params(t, (await launch(3, 'sgd', { batch: 2, steps })).ranks, 'SGD, 3 processes');
  if (!one || !two || !three) return;
  for (const [n, r] of [[2, two], [3, three]]) {
    const d = maxAbsDiff(r.params, one.params);
    t.ok(d <= 1e-6, `SGD: ${n} processes end with the 1-process parameters (max |diff| ${d.toExponential(1)})`);
    t.ok(maxAbsDiff(r.losses, one.losses) <= 1e-6, `SGD: ${n} processes report the global batch's losses`);
  }
  const idm1 = params(t, (await launch(1, 'train', { batch: 4, steps })).ranks, 'trainIDM, 1 process');
  const idm2 = params(t, (await launch(2, 'train', { batch: 2, steps })).ranks, 'trainIDM, 2 processes');
  if (!idm1 || !idm2) return;
  t.ok(maxAbsDiff(idm2.losses, idm1.losses) <= 1e-6, `trainIDM: the 2-process losses are the 1-process ones (${idm1.losses.map((l) => l.toFixed(5))})`);
  // Adam's first updates are ±lr whatever the gradient's size, so a gradient at rounding level may flip one.
  const close = idm2.params.filter((v, i) => Math.abs(v - idm1.params[i]) <= 1e-6).length / idm1.params.length;
  t.ok(close >= 0.99, `trainIDM: ${(100 * close).toFixed(2)}% of the parameters agree to 1e-6`);
  t.ok(maxAbsDiff(idm2.params, idm1.params) <= 2 * steps * 1e-3, 'trainIDM: none differs by more than the Adam steps could move it');
});

test('distributed: trainDiffusion on 2 processes keeps every rank identical', async (t) => {
  const r = params(t, (await launch(2, 'diffusion')).ranks, 'trainDiffusion');
  if (r) t.ok(r.losses.length === 2 && r.losses.every(Number.isFinite), 'two finite losses');
});

test('distributed: a collective that a live rank does not join in time fails at the timeout, saying every rank is alive', async (t) => {
  const { ranks } = await launch(2, 'stall', { timeoutMs: 2000 });
  t.equal(ranks[0].code, 3, 'rank 0 exits with an error');
  t.match(ranks[0].stderr, /rank 0 of 2\): allReduce timed out after 2000 ms with every rank alive/, `rank 0 reports the timeout: ${ranks[0].stderr.trim().split('\n').pop().slice(0, 140)}`);
  t.notEqual(ranks[1].code, 0, 'rank 1, arriving late, fails too');
});

test('distributed: a rank killed mid-training: the others stop within the timeout naming it; the last checkpoint loads and resumes on another world size', async (t) => {
  const timeoutMs = 20_000;
  const { out, ranks } = await launch(3, 'train', { batch: 2, steps: 40, checkpoint: 'run.safetensors', checkpointEvery: 2, dieAt: 5, dieRank: 2, timeoutMs });
  t.equal(ranks[2].signal, 'SIGKILL', 'rank 2 was killed');
  for (const r of ranks.slice(0, 2)) {
    t.equal(r.code, 3, `rank ${r.rank} exits with an error`);
    t.match(r.stderr, /rank \d of 3\): averageGradients failed: rank 2 stopped responding/, `rank ${r.rank} names rank 2: ${r.stderr.trim().split('\n').pop().slice(0, 160)}`);
    t.ok(r.ms < timeoutMs + 15_000, `rank ${r.rank} stopped within the timeout (${r.ms} ms)`);
  }
  const file = path.join(out, 'run.safetensors');
  const meta = JSON.parse(inv.readSafetensorsMetadata(file)['invdiff.checkpoint']);
  t.equal(meta.step, 4, 'the checkpoint of step 4 (written by rank 0 only) is on disk');
  t.equal(meta.dataset.consumed, 4 * 3 * 2, 'it counts the global samples consumed');
  const { weights } = inv.training.checkpointWeights(file);
  t.ok(weights.length > 0 && weights.every(([, w]) => w.isfinite().all()), 'its weights load');
  // Resume the same run on 2 processes of batch 3 (the same global batch).
  const resumed = params(t, (await launch(2, 'train', { batch: 3, steps: 6, checkpoint: file, resume: true })).ranks, 'resumed on 2');
  if (resumed) {
    t.deepEqual(resumed.steps, [5, 6], 'the resumed run continues at step 5');
    t.equal(resumed.step, 6, 'and ends at step 6');
  }
});

const bin = path.join(__dirname, '..', 'dist', 'cli', 'bin.js');

// Runs the CLI; onStderr(text, child) sees stderr as it grows. Resolves with { code, stdout, stderr }.
function cli(args, onStderr) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      onStderr?.(stderr, child);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), LIMIT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

test('invdiff train --nproc 2: two ranks train one model, each rank\'s exit reported; Ctrl-C reaches both and rank 0 saves', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-nproc-'));
  const small = ['train', 'idm', '--crop', '16', '--batch', '2', '--channels', '8'];
  const done = await cli([...small, '--out', path.join(dir, 'a.safetensors'), '--steps', '3', '--nproc', '2', '--quiet']);
  t.equal(done.code, 0, `exit 0${done.code ? `: ${done.stderr}` : ''}`);
  t.match(done.stdout, /trained: 3 steps on 2 processes/, 'rank 0 reports the run');
  t.match(done.stderr, /invdiff train: rank 0 exited 0, rank 1 exited 0/, 'each rank\'s exit');
  t.ok(fs.existsSync(path.join(dir, 'a.safetensors')), 'the model is written');
  // Ctrl-C once rank 0's first progress line shows that both ranks train.
  let sent = false;
  const stopped = await cli([...small, '--out', path.join(dir, 'b.safetensors'), '--steps', '100000', '--nproc', '2'], (err, child) => {
    if (!sent && /% .*img\/s/.test(err)) {
      sent = true;
      child.kill('SIGINT');
    }
  });
  t.ok(sent, 'training was under way');
  t.equal(stopped.code, 130, 'the launcher exits 130 as an interrupted run does');
  t.match(stopped.stderr, /rank 0 exited 130, rank 1 exited 130/, 'both ranks stopped on Ctrl-C');
  t.match(stopped.stdout, /interrupted: \d+ steps on 2 processes/, 'rank 0 reports where it stopped');
  t.ok(fs.existsSync(path.join(dir, 'b.safetensors')), 'and writes the model');
  const usage = await cli([...small, '--out', path.join(dir, 'c.safetensors'), '--nproc', '2', '--nnodes', '2']);
  t.equal(usage.code, 2, 'more nodes without MASTER_ADDR is a usage error');
  t.match(usage.stderr, /--nnodes above 1 needs MASTER_ADDR/, 'which says what to set');
});
