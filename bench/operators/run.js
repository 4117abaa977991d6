#!/usr/bin/env node
'use strict';
// bench/operators: forward, adjoint and pinv of every operator family at batch 8 on 1×256×256 and 3×64×64,
// in ms, and next to PyTorch (Python) versions of inpainting, stridedBlur, blockCS and mri on the same
// LibTorch, measured in this run. Prints TS/Python per operator (goal ≤ 1.0).
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('../..');

const PYTHON = '/usr/bin/python3';
const threads = os.availableParallelism?.() ?? os.cpus().length;
inv.setNumThreads(threads);
const B = 8;
const SHAPES = [[1, 256, 256], [3, 64, 64]];
const OPTIONS = { blockCS: { ratio: 0.1 }, stridedBlur: { stride: 4 }, mri: { acceleration: 4 }, ct: { views: 60 } };
// Too large to build at 256² on a 2-core machine (a 128×65536 float64 pinv per sample; a 30M-entry Radon matrix).
const SKIP = new Set(['matrix 1x256x256', 'ct 1x256x256']);

function bestMs(fn, repeats = 5, inner = 5) {
  const call = () => inv.scope(() => { fn(); }); // nothing escapes the scope: results are freed at once, as in Python
  call();
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < inner; i++) call();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e6 / inner);
  }
  return best;
}

// node bench/operators/run.js [family ...] limits the run to those families.
const only = process.argv.slice(2);
const ts = {};
for (const name of inv.operators.names().filter((n) => !only.length || only.includes(n))) {
  for (const shape of SHAPES) {
    const key = `${name} ${shape.join('x')}`;
    if (SKIP.has(key)) continue;
    const A = inv.operators.create(name, { imageShape: shape, batch: B, seed: 1, ...(OPTIONS[name] || {}) });
    const x = inv.keep(inv.randn([B, ...shape], { seed: 1 }));
    const y = inv.keep(A.forward(x));
    // CG pseudo-inverses run hundreds of iterations: time them with a fixed 20 so rows compare.
    const P = A.pinvMethod.startsWith('conjugate') ? inv.operators.create(name, { imageShape: shape, batch: B, seed: 1, ...(OPTIONS[name] || {}), cgIterations: 20, cgTolerance: 1e-30 }) : A;
    ts[key] = { forward: bestMs(() => A.forward(x)), adjoint: bestMs(() => A.adjoint(y)), pinv: bestMs(() => P.pinv(y), 3, 1), method: P.pinvMethod };
    for (const t of [x, y]) t.dispose();
    A.dispose();
    if (P !== A) P.dispose();
  }
}

let py = {};
if (fs.existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) {
  const r = spawnSync(PYTHON, [path.join(__dirname, 'python_side.py'), String(threads), ...only], { encoding: 'utf8' });
  if (r.status === 0) py = JSON.parse(r.stdout.trim().split('\n').pop());
  else console.log(`bench: the Python side failed:\n${r.stderr}`);
} else {
  console.log('bench: PyTorch for /usr/bin/python3 is missing (Debian: apt-get install python3-torch; npm run bench installs it); Python columns skipped');
}

console.log(`bench/operators — batch ${B}, LibTorch ${inv.backend().torch}, ${threads} threads; ms (TS | Python | TS/Python)`);
console.log('| operator | forward | adjoint | pinv | pinv method |');
console.log('|---|---|---|---|---|');
const cell = (t, p) => (p === undefined ? t.toFixed(2) : `${t.toFixed(2)} \\| ${p.toFixed(2)} \\| ${(t / p).toFixed(2)}`);
for (const [key, r] of Object.entries(ts)) {
  const p = py[key];
  console.log(`| ${key} | ${cell(r.forward, p?.[0])} | ${cell(r.adjoint, p?.[1])} | ${cell(r.pinv, p?.[2])} | ${r.method}${r.method.startsWith('conjugate') ? ' (20 iterations timed)' : ''} |`);
}
