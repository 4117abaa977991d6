'use strict';
// The leak soak (issue 20): training steps of a tiny IDM, sampler NFEs (DDNM on a tiny U-Net, each run's
// result dropped inside a scope) and async calls whose promises are dropped or settle after their
// scopeAsync closed. A short warm-up of each runs first; then live tensors and native bytes must return to
// their values after it, and RSS stay within 10% of it. bench/soak/run.js runs the full counts, the test a
// share of them.
const inv = require('../..');

const TINY_IDM = { channels: 8, groups: 4, heads: 2, multipliers: [1, 2], blocks: 1, attention: [false, true], steps: 2 };
const TINY_UNET = { channels: 8, multipliers: [1, 2], blocks: 1, attention: [false, true] };

async function train(steps) {
  const model = new inv.models.IDM(TINY_IDM);
  const data = new inv.ImageDataset([inv.deadLeaves({ count: 1, size: 32, seed: 1 }), inv.deadLeaves({ count: 1, size: 32, seed: 6 })], { crop: 16, batch: 2, seed: 2 });
  try {
    await inv.training.trainIDM({ model, data, operator: { family: 'inpainting' }, steps, progress: false });
  } finally {
    data.dispose();
    model.dispose();
  }
}

// DDNM runs of 25 NFEs until nfes are done; each result is dropped inside the scope that made it.
function sample(nfes) {
  const net = new inv.models.Unconditional(TINY_UNET);
  const A = inv.operators.create('inpainting', { imageShape: [1, 16, 16], seed: 3 });
  const y = A.forward(inv.rand([1, 1, 16, 16], { seed: 4 }).mul(2).sub(1));
  let done = 0;
  try {
    while (done < nfes) inv.scope(() => (done += inv.samplers.ddnm(net, { operator: A, y, steps: Math.min(25, nfes - done), seed: done }).nfe));
  } finally {
    y.dispose();
    A.dispose();
    net.dispose();
  }
  return done;
}

// Half the promises are never awaited inside their scope (dropped), half are awaited only after it closed.
async function asyncCalls(count) {
  const x = inv.randn([64, 64], { seed: 5 });
  const A = inv.operators.create('blur', { imageShape: [1, 16, 16] });
  const image = inv.zeros([1, 1, 16, 16]);
  const late = [];
  for (let i = 0; i < count; i += 2) {
    await inv.scopeAsync(async () => {
      x.matmulAsync(x); // dropped
      late.push(A.forwardAsync(image)); // settles after the scope closed
    });
    if (late.length >= 50) await Promise.all(late.splice(0));
  }
  await Promise.all(late);
  await new Promise((r) => setImmediate(r));
  x.dispose();
  A.dispose();
  image.dispose();
  return count;
}

async function settle() {
  for (let i = 0; i < 3; i++) {
    global.gc?.();
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs the soak and returns its figures; `counts` are the training steps, sampler NFEs and async calls. */
async function soak({ steps = 2000, nfes = 2000, calls = 2000 } = {}) {
  if (!global.gc) throw new Error('the soak needs node --expose-gc');
  // One thread: on a loaded 2-core machine two made a tiny IDM's training step 20 times slower (spinning workers).
  const threads = inv.backend().threads;
  inv.setNumThreads(1);
  try {
    return await measured(steps, nfes, calls);
  } finally {
    inv.setNumThreads(threads);
  }
}

async function measured(steps, nfes, calls) {
  await train(20);
  sample(50);
  await asyncCalls(100);
  await settle();
  const start = { ...inv.memory(), rss: process.memoryUsage().rss };
  await train(steps);
  const sampled = sample(nfes);
  await asyncCalls(calls);
  await settle();
  const end = { ...inv.memory(), rss: process.memoryUsage().rss };
  return { steps, nfes: sampled, calls, start, end, rssGrowth: end.rss / start.rss - 1 };
}

function summary(r) {
  return (
    `${r.steps} training steps, ${r.nfes} sampler NFEs, ${r.calls} dropped/late async calls: live tensors ${r.start.tensors} → ${r.end.tensors}, ` +
    `native bytes ${r.start.bytes} → ${r.end.bytes}, RSS ${(r.start.rss / 2 ** 20).toFixed(1)} → ${(r.end.rss / 2 ** 20).toFixed(1)} MiB (${(100 * r.rssGrowth).toFixed(1)}% after warm-up)`
  );
}

module.exports = { soak, summary };
