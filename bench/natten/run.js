#!/usr/bin/env node
'use strict';
// bench/natten: the neighbourhood-attention op (NATTEN's windows) against a dense attention of the same size
// whose additive −∞ mask keeps the same windows, forward and forward+backward (gradients w.r.t. q, k, v), and
// the joint form against dense attention over both key sets. The two sides alternate round by round so load
// drifts hit both; each prints the median ms per call with the range over rounds and the ratio of medians.
// node bench/natten/run.js [rounds]; INVDIFF_NUM_THREADS sets the threads (default: every core).
const os = require('os');
const inv = require('../..');

const { threads } = inv.backend();
const rounds = Math.max(5, Number(process.argv[2]) || 7);
const CASES = [
  { B: 1, heads: 2, H: 32, W: 32, d: 32, kernel: 7, sets: 1 },
  { B: 1, heads: 2, H: 32, W: 32, d: 32, kernel: 7, sets: 2 },
  { B: 1, heads: 2, H: 64, W: 64, d: 32, kernel: 7, sets: 1 },
];

// NATTEN's rule per axis: query i's window starts at clamp(i − κ//2, 0, L − κ).
const starts = (L, kernel) => Array.from({ length: L }, (_, i) => Math.min(Math.max(i - (kernel >> 1), 0), L - kernel));

// 0 inside each query's window of every key set, −∞ elsewhere: (H·W) × (sets·H·W).
function windowMask(H, W, kernel, sets) {
  const [rows, cols, N] = [starts(H, kernel), starts(W, kernel), H * W];
  const mask = new Float32Array(N * sets * N).fill(-Infinity);
  for (let i = 0; i < H; i++) {
    for (let j = 0; j < W; j++) {
      for (let s = 0; s < sets; s++) {
        for (let r = rows[i]; r < rows[i] + kernel; r++) mask.fill(0, (i * W + j) * sets * N + s * N + r * W + cols[j], (i * W + j) * sets * N + s * N + r * W + cols[j] + kernel);
      }
    }
  }
  return inv.tensor(mask, [N, sets * N]);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// ms per call of fn, averaged over `inner` calls; every tensor the call makes is freed inside the timer.
function msPerCall(fn, inner) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < inner; i++) inv.scope(() => { fn(); });
  return Number(process.hrtime.bigint() - t0) / 1e6 / inner;
}

// MiB one call holds at its peak beyond what was live before it (the counting CPU allocator).
function peakMiB(fn) {
  const before = inv.memory().bytes;
  inv.resetPeakMemory();
  inv.scope(() => { fn(); });
  return (inv.memory().peakBytes - before) / 2 ** 20;
}

console.log(`bench/natten — LibTorch ${inv.backend().torch}, ${threads} threads, ${rounds} rounds, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log('ms per call: median (min–max over rounds); ratio = neighbourhood / dense medians; MiB: peak memory of one call');
console.log('| case | pass | neighbourhood ms | dense masked ms | ratio | neighbourhood MiB | dense MiB |');
console.log('|---|---|---|---|---|---|---|');
for (const { B, heads, H, W, d, kernel, sets } of CASES) {
  inv.scope(() => {
    const shape = [B, heads, H, W, d];
    const N = H * W;
    const inputs = Array.from({ length: 1 + 2 * sets }, (_, i) => inv.randn(shape, { seed: i + 1, requiresGrad: true }));
    const R = inv.randn(shape, { seed: 99 });
    const mask = windowMask(H, W, kernel, sets);
    const flat = (t) => t.reshape([B, heads, N, d]);
    const natten = ([q, k, v, k2, v2]) =>
      sets === 1 ? inv.neighborhoodAttention(q, k, v, { kernelSize: kernel }) : inv.jointNeighborhoodAttention(q, k, v, k2, v2, { kernelSize: kernel });
    const dense = ([q, ...kv]) => {
      const keys = kv.filter((_, i) => i % 2 === 0).map(flat);
      const values = kv.filter((_, i) => i % 2 === 1).map(flat);
      return inv.attention(flat(q), sets === 1 ? keys[0] : inv.cat(keys, { dim: 2 }), sets === 1 ? values[0] : inv.cat(values, { dim: 2 }), { mask }).reshape(shape);
    };
    const agree = inv.noGrad(() => natten(inputs).sub(dense(inputs)).abs().max().item());
    const passes = {
      forward: (f) => () => inv.noGrad(() => f(inputs)),
      'forward+backward': (f) => () => inv.grad(f(inputs).mul(R).sum(), inputs),
    };
    for (const [pass, make] of Object.entries(passes)) {
      const sides = [make(natten), make(dense)];
      // about 0.2 s per side and round, after one warm-up call each
      const inner = Math.max(1, Math.round(200 / Math.max(...sides.map((f) => msPerCall(f, 1)))));
      const times = [[], []];
      for (let r = 0; r < rounds; r++) sides.forEach((f, s) => times[s].push(msPerCall(f, inner)));
      const cell = (ts) => `${median(ts).toFixed(2)} (${Math.min(...ts).toFixed(2)}–${Math.max(...ts).toFixed(2)})`;
      const label = `${B}×${heads}×${H}×${W}×${d}, κ ${kernel}${sets === 2 ? ', joint' : ''}`;
      const [mine, theirs] = sides.map((f) => peakMiB(f).toFixed(1));
      console.log(`| ${label} | ${pass} | ${cell(times[0])} | ${cell(times[1])} | ${(median(times[0]) / median(times[1])).toFixed(3)} | ${mine} | ${theirs} |`);
    }
    if (agree > 1e-4) console.log(`bench/natten: the two sides differ by ${agree} on ${shape}`);
  });
}
console.log(`load average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
