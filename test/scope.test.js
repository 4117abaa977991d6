'use strict';
// Scopes and late async results: a *Async result that settles after its scopeAsync closed still runs in
// that scope's async context; it belongs to the enclosing open scope, or to the finalizers outside all.
const test = require('tape');
const inv = require('..');

async function collect(base) {
  for (let i = 0; i < 20 && inv.memory().tensors > base; i++) {
    global.gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  return inv.memory().tensors;
}

test('a result that settles after its scopeAsync closed belongs to the enclosing scope', async (t) => {
  const a = inv.keep(inv.randn([96, 96], { seed: 1 }));
  const base = inv.memory().tensors;
  let product;
  let late;
  await inv.scopeAsync(async () => {
    await inv.scopeAsync(async () => {
      late = a.matmulAsync(a); // not awaited here: it settles after this scope closed
      return 0;
    });
    product = await late;
    t.notOk(product.isDisposed, 'usable in the enclosing scope');
    t.ok(inv.scope(() => product.equal(a.matmul(a))), 'the right product');
    t.equal(inv.memory().tensors, base + 1, 'one live tensor: the late result');
  });
  t.ok(product.isDisposed, 'freed when the enclosing scope closed');
  t.equal(inv.memory().tensors, base, 'nothing left');
  a.dispose();
});

test('2000 async results dropped inside scopes that closed before they settled: all freed after GC', async (t) => {
  const a = inv.keep(inv.randn([32, 32], { seed: 2 }));
  const base = inv.memory().tensors;
  const bytes = inv.memory().bytes;
  const settled = [];
  for (let round = 0; round < 20; round++) {
    await inv.scopeAsync(async () => {
      for (let i = 0; i < 100; i++) settled.push(a.matmulAsync(a).then(() => undefined)); // dropped: nobody keeps the tensor
      return 0;
    });
  }
  await Promise.all(settled);
  settled.length = 0;
  const now = await collect(base);
  t.equal(now, base, `live tensors back to ${base} (now ${now}); before, each went onto its closed frame and was never freed`);
  t.ok(inv.memory().bytes <= bytes, `native bytes back to where they were (${inv.memory().bytes - bytes} more)`);
  a.dispose();
});

test("a sampler's result that its scope does not return is freed with that scope, not left to the finalizers", (t) => {
  const A = inv.operators.create('inpainting', { imageShape: [1, 8, 8], seed: 1 });
  const y = A.forward(inv.rand([1, 1, 8, 8], { seed: 2 }));
  const denoiser = { denoise: (x, sigma) => x.div(sigma * sigma + 1) }; // the exact denoiser of N(0, I) data
  const base = inv.memory().tensors;
  for (const sampler of ['ddnm', 'ddim', 'heun', 'dps']) {
    for (let i = 0; i < 5; i++) inv.scope(() => void inv.samplers[sampler](denoiser, { operator: A, y, steps: 4, seed: i }));
    t.equal(inv.memory().tensors, base, `${sampler}: no tensor alive after 5 scoped runs, without GC (the result's keep mark outlived Held.release)`);
  }
  const kept = inv.scope(() => inv.samplers.ddnm(denoiser, { operator: A, y, steps: 4 }));
  t.deepEqual(kept.images.shape, [1, 1, 8, 8], 'a result the scope returns is still there');
  t.equal(inv.memory().tensors, base + 1, 'and is the one tensor alive');
  kept.images.dispose();
  y.dispose();
  A.dispose();
  t.end();
});
