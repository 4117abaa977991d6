'use strict';
// IDM's training memory: activation bytes of one training step (peak allocator bytes minus the bytes live
// before it, so parameters, gradients and optimizer state already allocated are excluded), measured in
// child processes so each starts clean. Reversible models stay nearly flat in depth and in T; the same
// network with stored activations grows with both.
const test = require('tape');
const { execFileSync } = require('child_process');
const path = require('path');

const child = `
const inv = require(${JSON.stringify(path.resolve(__dirname, '..'))});
const [blocks, steps, reversible] = process.argv.slice(1).map(Number);
const model = new inv.models.IDM({ channels: 8, groups: 4, heads: 2, multipliers: [1, 2], attention: [false, true], blocks, steps, reversible: reversible === 1 });
const A = inv.operators.create('blockCS', { imageShape: [1, 64, 64], batch: 4, seed: 3, ratio: 0.3, blockSize: 16 });
const x = inv.rand([4, 1, 64, 64], { seed: 1 });
const y = A.forward(x);
const step = () => inv.scope(() => model.reconstruct(A, y).sub(x).abs().mean().backward());
step(); // gradients now exist, as in training
global.gc();
const before = inv.memory().bytes;
inv.resetPeakMemory();
step();
const parameterBytes = model.parameters().reduce((s, p) => s + p.numel * 4, 0);
process.stdout.write(JSON.stringify({ activation: inv.memory().peakBytes - before, parameterBytes }));
`;

function measure(blocks, steps, reversible) {
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', child, String(blocks), String(steps), reversible ? '1' : '0'], { encoding: 'utf8' });
  return JSON.parse(out);
}

const mib = (b) => `${(b / 2 ** 20).toFixed(2)} MiB`;

for (const [what, small, large] of [
  ['blocks per level 4 → 16 (T = 3)', [4, 3], [16, 3]],
  ['steps T 2 → 8 (2 blocks per level)', [2, 2], [2, 8]],
]) {
  test(`IDM training memory, ${what}`, (t) => {
    const rev = [measure(...small, true), measure(...large, true)];
    const ref = [measure(...small, false), measure(...large, false)];
    const revGrowth = rev[1].activation / rev[0].activation;
    const refGrowth = ref[1].activation / ref[0].activation;
    t.comment(`reversible ${mib(rev[0].activation)} → ${mib(rev[1].activation)}; stored ${mib(ref[0].activation)} → ${mib(ref[1].activation)}; parameters ${mib(rev[0].parameterBytes)} → ${mib(rev[1].parameterBytes)}`);
    t.ok(revGrowth < 1.25, `reversible activation memory grows by less than 25% (×${revGrowth.toFixed(3)})`);
    t.ok(refGrowth >= 2.5, `stored activations grow at least 2.5× (×${refGrowth.toFixed(2)})`);
    t.ok(rev[1].activation < ref[1].activation / 10, `reversible needs under a tenth of the stored memory at the larger size`);
    t.end();
  });
}
