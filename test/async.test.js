'use strict';
const test = require('tape');
const inv = require('..');

test('the event loop keeps ticking while native work runs on a worker', async (t) => {
  const a = inv.keep(inv.randn([1024, 1024], { seed: 1 }));
  // Long enough to be several event-loop turns: a chain of large matmuls on the worker.
  let ticks = 0;
  let running = true;
  const tick = () => { ticks++; if (running) setImmediate(tick); };
  setImmediate(tick);
  const started = Date.now();
  let acc = a;
  for (let i = 0; i < 6; i++) acc = await acc.matmulAsync(a).then((r) => r.div(1024));
  const elapsed = Date.now() - started;
  running = false;
  t.ok(ticks >= 10, `${ticks} event-loop turns during ${elapsed} ms of native work`);
  const sync = inv.scope(() => {
    let s = a;
    for (let i = 0; i < 6; i++) s = s.matmul(a).div(1024);
    return s;
  });
  t.ok(acc.allclose(sync, { rtol: 1e-4, atol: 1e-5 }), 'async results equal the sync ones');
});

test('async rows cover heavy ops and resolve to tensors', async (t) => {
  await inv.scopeAsync(async () => {
    const m = inv.randn([6, 4], { seed: 2, dtype: 'float64' });
    const [u, s, vh] = await m.svdAsync();
    t.ok(u.mul(s.unsqueeze(0)).matmul(vh).allclose(m, { atol: 1e-10 }), 'svdAsync');
    const p = await m.pinverseAsync();
    t.ok(m.matmul(p).matmul(m).allclose(m, { atol: 1e-10 }), 'pinverseAsync');
    const img = inv.randn([1, 2, 8, 8], { seed: 3 });
    const w = inv.randn([3, 2, 3, 3], { seed: 4 });
    t.ok((await inv.conv2dAsync(img, w, { padding: 1 })).equal(inv.conv2d(img, w, { padding: 1 })), 'conv2dAsync');
    const q = inv.randn([1, 4, 8], { seed: 5 });
    t.ok((await inv.attentionAsync(q, q, q)).allclose(inv.attention(q, q, q)), 'attentionAsync');
    const net = inv.nn.mlp({ sizes: [8, 4] });
    const [out] = await net.forwardAsync(q);
    t.ok(out.equal(net.call(q)), 'module forwardAsync');
    const x = inv.ones([3], { requiresGrad: true });
    await x.mul(x).sum().backwardAsync();
    t.deepEqual(Array.from(x.grad.toFloat32Array()), [2, 2, 2], 'backwardAsync');
  });
});
