'use strict';
const test = require('tape');
const inv = require('..');

test('100k small ops in scopes leave the live count where it started', (t) => {
  const base = inv.memory().tensors;
  const a = inv.keep(inv.ones([4]));
  for (let i = 0; i < 1000; i++) {
    inv.scope(() => {
      for (let j = 0; j < 100; j++) a.add(j).mul(a);
    });
  }
  t.equal(inv.memory().tensors, base + 1, `live tensors back to ${base + 1} after 200k ops`);
  a.dispose();
  t.equal(inv.memory().tensors, base);
  t.end();
});

test('scopes return what fn returns and free the rest, also on throw', (t) => {
  const base = inv.memory().tensors;
  const { kept, list } = inv.scope(() => {
    const tmp = inv.ones([3]);
    return { kept: tmp.mul(2), list: [tmp.add(1), inv.zeros([1])] };
  });
  t.equal(inv.memory().tensors, base + 3, 'returned tensors (in objects and arrays) survive');
  t.equal(kept.sum().item(), 6);
  t.throws(() => inv.scope(() => { inv.ones([5]); throw new Error('inner'); }), /inner/);
  t.equal(inv.memory().tensors, base + 4, 'a throwing scope frees its tensors (the sum above is outside any scope)');
  const nested = inv.scope(() => {
    const inner = inv.scope(() => inv.ones([2]).mul(3));
    return inner.add(1);
  });
  t.equal(nested.sum().item(), 8, 'a tensor returned from an inner scope is usable in the outer one');
  t.throws(() => inv.scope(() => Promise.resolve(1)), /scopeAsync/, 'a Promise is refused with a pointer to scopeAsync');
  for (const x of [kept, ...list, nested]) x.dispose();
  t.end();
});

test('disposed tensors report as disposed and fail clearly', (t) => {
  const x = inv.ones([2]);
  t.notOk(x.isDisposed);
  x.dispose();
  t.ok(x.isDisposed);
  t.throws(() => x.add(1), /argument 'self' expected a live Tensor, got a disposed one/);
  t.doesNotThrow(() => x.dispose(), 'disposing twice is harmless');
  const y = inv.ones([2]); // may reuse the slot: the stale handle must still be refused
  t.throws(() => x.sum(), /disposed/);
  t.equal(y.sum().item(), 2);
  t.end();
});

// Finalizers of tensors that escaped earlier run between tasks, so a test that awaits lets the GC settle first.
async function settle() {
  for (let i = 0; i < 3; i++) {
    global.gc();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('scopeAsync keeps concurrent scopes apart', async (t) => {
  await settle();
  const base = inv.memory().tensors;
  const work = (seed) => inv.scopeAsync(async () => {
    const a = inv.randn([64, 64], { seed });
    await new Promise((r) => setTimeout(r, 5));
    const b = await a.matmulAsync(a);
    await new Promise((r) => setTimeout(r, 5));
    return b.sum();
  });
  const [s1, s2] = await Promise.all([work(1), work(2)]);
  t.notEqual(s1.item(), s2.item());
  t.equal(inv.memory().tensors, base + 2, 'each scope freed its own temporaries and kept its result');
  s1.dispose();
  s2.dispose();
});

test('bytes and peak bytes follow allocations', (t) => {
  inv.resetPeakMemory();
  const before = inv.memory();
  const big = inv.zeros([1024, 1024]); // 4 MiB
  const during = inv.memory();
  t.ok(during.bytes - before.bytes >= 4 * 1024 * 1024, `live bytes grew by ${during.bytes - before.bytes}`);
  big.dispose();
  const after = inv.memory();
  t.ok(after.bytes <= before.bytes + 1024, 'bytes fall back after dispose');
  t.ok(after.peakBytes >= before.bytes + 4 * 1024 * 1024, `peak ${after.peakBytes} remembers the 4 MiB tensor`);
  inv.resetPeakMemory();
  t.ok(inv.memory().peakBytes < after.peakBytes, 'resetPeakMemory starts afresh');
  inv.scope(() => inv.ones([256, 256]).matmul(inv.ones([256, 256])));
  t.ok(inv.memory().peakBytes >= 3 * 256 * 256 * 4, 'peak sees temporaries inside native ops');
  t.end();
});

test('V8 is told about native bytes, so its GC weighs them', (t) => {
  const before = inv.memory().reportedToV8;
  const big = inv.zeros([16, 1024, 1024]); // 64 MiB
  const during = inv.memory().reportedToV8;
  t.ok(during - before >= 60 * 2 ** 20, `reported ${((during - before) / 2 ** 20).toFixed(0)} MiB more while a 64 MiB tensor lives`);
  big.dispose();
  inv.scope(() => inv.zeros([1]).add(1)); // the report is refreshed after the next native call
  t.ok(inv.memory().reportedToV8 <= before + 4 * 2 ** 20, 'and takes it back after dispose');
  t.end();
});

test('garbage collection frees tensors that escaped every scope', async (t) => {
  const base = inv.memory().tensors;
  (() => { for (let i = 0; i < 100; i++) inv.ones([8]); })();
  t.equal(inv.memory().tensors, base + 100);
  for (let i = 0; i < 10 && inv.memory().tensors > base; i++) {
    global.gc();
    await new Promise((r) => setTimeout(r, 10));
  }
  const now = inv.memory().tensors;
  t.ok(now <= base, `finalizers released the 100 (live ${now}, ${base} before; earlier unreachable ones may go too)`);
});

test('threads and backend facts', (t) => {
  const b = inv.backend();
  t.match(b.torch, /^\d+\.\d+/, `LibTorch ${b.torch}`);
  t.equal(typeof b.cuda, 'boolean');
  inv.setNumThreads(1);
  t.equal(inv.backend().threads, 1);
  inv.setNumThreads(2);
  t.equal(inv.backend().threads, 2);
  // OpenBLAS keeps a pool of its own that at::set_num_threads leaves alone: setNumThreads sets it too.
  const fs = require('fs');
  const openblas = fs.readFileSync('/proc/self/maps', 'utf8').includes('openblas');
  if (openblas || b.blasThreads !== -1) {
    inv.setNumThreads(1);
    t.equal(inv.backend().blasThreads, 1, 'OpenBLAS follows setNumThreads(1)');
    inv.setNumThreads(2);
    t.equal(inv.backend().blasThreads, 2, 'and setNumThreads(2)');
  } else {
    t.equal(b.blasThreads, -1, 'no OpenBLAS mapped: blasThreads is -1');
  }
  t.throws(() => inv.setNumThreads(0), /argument 'n' expected a number of threads in \[1, 1024\], got 0/);
  t.end();
});
