#!/usr/bin/env node
'use strict';
// bench/overhead: the cost of invdiff's binding next to PyTorch's Python API on the same LibTorch, measured
// side by side in one run: a 4-element add, a 2048² matmul, and a small MLP training step. Prints TS/Python.
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('../..');

const PYTHON = '/usr/bin/python3'; // Debian's python3-torch belongs to this interpreter, not to one earlier on PATH
const threads = os.availableParallelism?.() ?? os.cpus().length;
inv.setNumThreads(threads);

function ensurePythonTorch() {
  const probe = () => spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
  if (fs.existsSync(PYTHON) && probe()) return true;
  if (process.getuid?.() === 0 && fs.existsSync('/etc/debian_version')) {
    console.log('bench: installing python3-torch (Debian) for the Python side');
    spawnSync('apt-get', ['install', '-y', '-q', 'python3-torch'], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    return probe();
  }
  console.log('bench: PyTorch for /usr/bin/python3 is missing (Debian: apt-get install python3-torch); the Python column is skipped');
  return false;
}

function bestOf(fn, repeats = 5) {
  let best = Infinity;
  for (let i = 0; i < repeats; i++) best = Math.min(best, fn());
  return best;
}

function smallAdd() {
  const a = inv.keep(inv.ones([4]));
  const b = inv.keep(inv.ones([4]));
  // Scopes of 100 ops, as a training step frees its temporaries; the first pass lets V8 optimise the loop.
  const run = (n) => { for (let i = 0; i < n / 100; i++) inv.scope(() => { for (let j = 0; j < 100; j++) a.add(b); }); };
  run(100_000);
  const n = 200_000;
  const t0 = process.hrtime.bigint();
  run(n);
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  a.dispose();
  b.dispose();
  return us;
}

function matmul() {
  return inv.scope(() => {
    const a = inv.randn([2048, 2048], { seed: 1 });
    const b = inv.randn([2048, 2048], { seed: 2 });
    a.matmul(b);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 3; i++) inv.scope(() => a.matmul(b));
    return (2 * 2048 ** 3 * 3) / (Number(process.hrtime.bigint() - t0) / 1e9) / 1e9;
  });
}

function mlpStep() {
  inv.manualSeed(0);
  const net = inv.nn.mlp({ sizes: [64, 256, 256, 10], activation: 'relu' });
  const opt = new inv.optim.Adam(net.parameters(), { lr: 1e-3 });
  const x = inv.keep(inv.randn([128, 64], { seed: 1 }));
  const y = inv.keep(inv.randn([128, 10], { seed: 2 }));
  const step = () => inv.scope(() => {
    opt.zeroGrad();
    inv.mseLoss(net.call(x), y).backward();
    opt.step();
  });
  for (let i = 0; i < 100; i++) step();
  const n = 300;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) step();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6 / n;
  for (const o of [net, opt, x, y]) o.dispose();
  return ms;
}

const ts = { addUs: bestOf(smallAdd), matmulGflops: Math.max(matmul(), matmul(), matmul()), mlpStepMs: bestOf(mlpStep, 3) };
let py = null;
if (ensurePythonTorch()) {
  const r = spawnSync(PYTHON, [path.join(__dirname, 'python_side.py'), String(threads)], { encoding: 'utf8' });
  if (r.status === 0) py = JSON.parse(r.stdout.trim().split('\n').pop());
  else console.log(`bench: the Python side failed:\n${r.stderr}`);
}

const b = inv.backend();
console.log(`bench/overhead — LibTorch ${b.torch}, ${threads} threads, Node ${process.version}${py ? `, PyTorch ${py.torch}` : ''}`);
const rows = [
  ['4-element add (µs/op)', ts.addUs, py?.addUs, 'lower is better'],
  ['2048² fp32 matmul (GFLOP/s)', ts.matmulGflops, py?.matmulGflops, 'higher is better'],
  ['MLP 64-256-256-10 Adam step, batch 128 (ms)', ts.mlpStepMs, py?.mlpStepMs, 'lower is better'],
];
console.log('| measurement | invdiff (TS) | PyTorch (Python) | TS/Python |');
console.log('|---|---|---|---|');
for (const [name, a, p, note] of rows) {
  console.log(`| ${name} | ${a.toFixed(3)} | ${p === undefined ? '-' : p.toFixed(3)} | ${p === undefined ? '-' : (a / p).toFixed(2)} (${note}) |`);
}
