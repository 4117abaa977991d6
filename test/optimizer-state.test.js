'use strict';
// Optimizer state in checkpoints: named tensors that invdiff checks against the optimizer's parameters
// before writing any of it (native/core/optimizer_state.cpp), so a tampered file is a JS error, never heap
// damage at the next step.
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('..');
const { lcg, readUntrusted } = require('./helpers');
const { trainTiny } = require('./fixtures/untrusted');

function stepped(Kind, options, steps = 2) {
  const net = inv.nn.mlp({ sizes: [3, 4, 2] });
  const opt = new Kind(net.parameters(), { lr: 0.05, ...options });
  const x = inv.randn([5, 3], { seed: 1 });
  for (let i = 0; i < steps; i++) inv.scope(() => { opt.zeroGrad(); inv.mseLoss(net.call(x), inv.zeros([5, 2])).backward(); opt.step(); });
  return { net, opt };
}

test('stateDict names each field by parameter index, as each optimizer keeps it', (t) => {
  inv.scope(() => {
    const fresh = new inv.optim.Adam(inv.nn.linear({ inFeatures: 2, outFeatures: 1 }).parameters());
    t.deepEqual(fresh.stateDict(), [], 'no state before the first step');
    const { net, opt } = stepped(inv.optim.Adam, {}, 3);
    const state = Object.fromEntries(opt.stateDict());
    const shapes = net.parameters().map((p) => p.shape);
    t.deepEqual(Object.keys(state).sort(), [0, 1, 2, 3].flatMap((i) => [`${i}.exp_avg`, `${i}.exp_avg_sq`, `${i}.step`]).sort(), 'Adam: step, exp_avg, exp_avg_sq per parameter');
    t.deepEqual(state['2.exp_avg'].shape, shapes[2], 'moments are shaped like their parameter');
    t.equal(state['3.step'].dtype, 'int64');
    t.equal(state['3.step'].item(), 3, 'the step count');
    t.ok(state['1.exp_avg_sq'].min().item() >= 0 && state['1.exp_avg'].abs().max().item() > 0, 'real moments');
    const ams = Object.keys(Object.fromEntries(stepped(inv.optim.AdamW, { amsgrad: true }).opt.stateDict()));
    t.ok(ams.includes('0.max_exp_avg_sq'), 'amsgrad adds max_exp_avg_sq');
    t.deepEqual(Object.keys(Object.fromEntries(stepped(inv.optim.SGD, { momentum: 0.9 }).opt.stateDict())).sort(), ['0.momentum_buffer', '1.momentum_buffer', '2.momentum_buffer', '3.momentum_buffer']);
    t.deepEqual(stepped(inv.optim.SGD, {}).opt.stateDict(), [], 'plain SGD keeps nothing');
  });
  t.end();
});

test('loadStateDict refuses a state that does not fit, naming the entry, and leaves the optimizer as it was', (t) => {
  inv.scope(() => {
    const { opt } = stepped(inv.optim.Adam, {});
    const good = opt.stateDict().map(([n, s]) => [n, s.clone()]);
    const before = inv.cat(good.filter(([n]) => !n.endsWith('step')).map(([, s]) => s.flatten()));
    const edit = (name, value) => good.map(([n, s]) => [n, n === name ? value : s]);
    const cases = [
      ['a moment of another shape', edit('0.exp_avg', inv.zeros([3, 3])), /entry '0\.exp_avg' is Float\[3, 3\], its parameter Float\[4, 3\]/],
      ['a moment of another dtype', edit('1.exp_avg_sq', inv.zeros([4], { dtype: 'float64' })), /entry '1\.exp_avg_sq' is Double\[4\], its parameter Float\[4\]/],
      ['a float step count', edit('2.step', inv.tensor([2], [])), /entry '2\.step' must be an int64 scalar/],
      ['a negative step count', edit('2.step', inv.tensor(new BigInt64Array([-5n]), [])), /'2\.step' holds the step count -5/],
      ['a negative second moment', edit('3.exp_avg_sq', inv.full([2], -1)), /'3\.exp_avg_sq' holds negative or non-finite values/],
      ['a NaN first moment', edit('3.exp_avg', inv.full([2], NaN)), /'3\.exp_avg' holds non-finite values/],
      ['a field Adam does not keep', [...good, ['0.momentum_buffer', inv.zeros([4, 3])]], /'0\.momentum_buffer' is not a field adam keeps with these options \('step', 'exp_avg', 'exp_avg_sq'\)/],
      ['a parameter index past the end', [...good, ['4.step', inv.tensor(new BigInt64Array([1n]), [])]], /'4\.step' names parameter 4; the optimizer has 4/],
      ['an index with a leading zero', [...good, ['01.step', inv.tensor(new BigInt64Array([1n]), [])]], /'01\.step' is not named '<parameter index>\.<field>'/],
      ['a name without a field', [...good, ['3', inv.zeros([2])]], /entry '3' is not named/],
      ['a missing field', good.filter(([n]) => n !== '1.exp_avg'), /entry '1\.exp_avg' is missing/],
      ['a duplicated entry', [...good, good[0]], new RegExp(`'${good[0][0].replace('.', '\\.')}' appears twice`)],
      ['not pairs', 'state', /an array of \[name, Tensor\] pairs/],
    ];
    for (const [what, state, pattern] of cases) {
      t.throws(() => opt.loadStateDict(state), pattern, what);
      const now = inv.cat(opt.stateDict().filter(([n]) => !n.endsWith('step')).map(([, s]) => s.flatten()));
      t.ok(now.equal(before), `${what}: the state is unchanged`);
    }
    const sgd = stepped(inv.optim.SGD, { momentum: 0.9 }).opt;
    t.throws(() => sgd.loadStateDict(good), /'0\.exp_avg' is not a field sgd keeps with these options \('momentum_buffer'\)/, "Adam's state into SGD");
    t.throws(() => stepped(inv.optim.SGD, {}).opt.loadStateDict(sgd.stateDict()), /not a field sgd keeps with these options \(it keeps none\)/, 'momentum state into plain SGD');

    // A state loaded into a fresh optimizer is a copy: stepping it leaves the given tensors as they were.
    const { net } = stepped(inv.optim.Adam, {}, 0);
    const fresh = new inv.optim.Adam(net.parameters(), { lr: 0.05 });
    const given = good.map(([n, s]) => [n, s.clone()]);
    fresh.loadStateDict(given);
    inv.scope(() => { fresh.zeroGrad(); inv.mseLoss(net.call(inv.randn([5, 3], { seed: 1 })), inv.zeros([5, 2])).backward(); fresh.step(); });
    t.ok(given.every(([n, s], i) => s.equal(good[i][1])), 'the loaded tensors are copied, not aliased');
    t.equal(Object.fromEntries(fresh.stateDict())['0.step'].item(), 3, 'and the step count continues');
  });
  t.end();
});

// A checkpoint of the tiny trainer after 3 steps, and the weights of 4 straight steps.
async function baseline(dir) {
  const file = path.join(dir, 'base.safetensors');
  await trainTiny(file, 3);
  const straight = await trainTiny(path.join(dir, 'straight.safetensors'), 4);
  return { file, straight: straight.weights };
}

function rewrite(source, target, change) {
  const { tensors, metadata } = inv.loadSafetensors(source);
  inv.scope(() => inv.saveSafetensors(target, change({ ...tensors }), metadata));
  for (const t of Object.values(tensors)) t.dispose();
  return target;
}

test('tampered optimizer states in training checkpoints: resuming fails with the entry named (child processes)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-optstate-'));
  const { file, straight } = await baseline(dir);
  const copy = path.join(dir, 'resume.safetensors');
  fs.copyFileSync(file, copy);
  const resumed = await trainTiny(copy, 4);
  t.ok(Buffer.from(resumed.weights.buffer).equals(Buffer.from(straight.buffer)), 'an intact checkpoint resumes bit for bit (3 + 1 steps = 4 straight)');

  const step = (n) => inv.tensor(new BigInt64Array([BigInt(n)]), []);
  const cases = [
    ['shorter first moment', (s) => ({ ...s, 'optimizer.0.exp_avg': s['optimizer.0.exp_avg'].narrow(0, 0, 15) }), /'0\.exp_avg' is Float\[15, 64\], its parameter Float\[16, 64\]/],
    ['longer second moment', (s) => ({ ...s, 'optimizer.3.exp_avg_sq': inv.zeros([65]) }), /'3\.exp_avg_sq' is Float\[65\], its parameter Float\[64\]/],
    ['float64 moment', (s) => ({ ...s, 'optimizer.1.exp_avg': s['optimizer.1.exp_avg'].to({ dtype: 'float64' }) }), /'1\.exp_avg' is Double\[16\]/],
    ['float step', (s) => ({ ...s, 'optimizer.2.step': inv.tensor([3], []) }), /'2\.step' must be an int64 scalar/],
    ['huge step', (s) => ({ ...s, 'optimizer.2.step': step(2n ** 62n) }), /'2\.step' holds the step count/],
    ['negative second moment', (s) => ({ ...s, 'optimizer.0.exp_avg_sq': s['optimizer.0.exp_avg_sq'].sub(1) }), /'0\.exp_avg_sq' holds negative/],
    ['missing field', (s) => { const { 'optimizer.1.exp_avg_sq': _, ...rest } = s; return rest; }, /'1\.exp_avg_sq' is missing/],
    ['renamed field', (s) => { const { 'optimizer.0.exp_avg': m, ...rest } = s; return { ...rest, 'optimizer.0.exp_avgs': m }; }, /'0\.exp_avgs' is not a field adam keeps/],
    ['index past the end', (s) => ({ ...s, 'optimizer.4.step': step(3) }), /'4\.step' names parameter 4; the optimizer has 4/],
    ['LibTorch archive of an earlier invdiff', (s) => ({ ...s, optimizer: inv.zeros([64], { dtype: 'uint8' }) }), /optimizer state in LibTorch's archive format/],
  ];
  const files = cases.map(([, change], i) => rewrite(file, path.join(dir, `case-${i}.safetensors`), change));
  const results = readUntrusted('optimizer', files);
  cases.forEach(([what, , pattern], i) => {
    t.equal(results[i].outcome, 'error', `${what}: a JS error`);
    t.match(results[i].message, pattern, `${what}: names the entry (${results[i].message.slice(0, 120)})`);
  });

  // The optimizer state is checked before the model's weights are touched: a refused resume leaves them.
  const model = inv.nn.mlp({ sizes: [64, 16, 64] });
  const before = inv.scope(() => inv.cat(model.parameters().map((p) => p.flatten())).toFloat32Array());
  const optimizer = new inv.optim.Adam(model.parameters(), { lr: 1e-2 });
  const data = new inv.ImageDataset([inv.deadLeaves({ count: 1, size: 16, seed: 1 })], { crop: 8, batch: 2, seed: 2 });
  const loss = (batch) => inv.mseLoss(model.call(batch.flatten({ startDim: 1 })), batch.flatten({ startDim: 1 }));
  try {
    await inv.training.runTraining({ model, optimizer, data, steps: 4, loss, lr: 1e-2, ema: 0, checkpoint: files[0], resume: true, progress: false });
    t.fail('resumed');
  } catch (e) {
    t.match(e.message, /'0\.exp_avg' is Float\[15, 64\]/, 'in process too: the same error');
  }
  const after = inv.scope(() => inv.cat(model.parameters().map((p) => p.flatten())).toFloat32Array());
  t.ok(Buffer.from(after.buffer).equals(Buffer.from(before.buffer)), "and the model's weights are as they were");
  fs.rmSync(dir, { recursive: true, force: true });
});

test('byte-mutated training checkpoints (truncated, flipped, renumbered): a JS error or a clean resume, never a crash', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-optfuzz-'));
  const { file } = await baseline(dir);
  const bytes = fs.readFileSync(file);
  const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
  const digits = [...bytes.subarray(8, headerEnd).toString('latin1').matchAll(/\d/g)].map((m) => 8 + m.index);
  const random = lcg(20);
  const files = [];
  const mutate = (kind, count, make) => {
    for (let i = 0; i < count; i++) {
      const f = path.join(dir, `${kind}-${i}.safetensors`);
      fs.writeFileSync(f, make());
      files.push(f);
    }
  };
  mutate('truncated', 60, () => bytes.subarray(0, random(bytes.length)));
  mutate('header-byte', 80, () => { const b = Buffer.from(bytes); b[8 + random(headerEnd - 8)] ^= 1 << random(8); return b; });
  mutate('header-digit', 120, () => { const b = Buffer.from(bytes); b[digits[random(digits.length)]] = 0x30 + random(10); return b; });
  mutate('data-byte', 40, () => { const b = Buffer.from(bytes); for (let k = 0; k < 4; k++) b[headerEnd + random(bytes.length - headerEnd)] = random(256); return b; });
  const results = readUntrusted('optimizer', files);
  const count = (o) => results.filter((r) => r.outcome === o).length;
  const crashes = results.filter((r) => r.outcome === 'crash' || r.outcome === 'bad');
  t.equal(results.length, files.length, 'every mutated checkpoint was tried');
  t.deepEqual(crashes.map((r) => `${path.basename(r.file)}: ${r.message}`), [], 'no crash and nothing but Errors thrown');
  t.ok(count('error') > files.length / 2, `most mutations are refused (${count('error')} errors)`);
  console.log(`# optimizer-state fuzz: ${files.length} mutated checkpoints, ${files.length - crashes.length} survived (${count('error')} JS errors, ${count('ok')} resumed)`);
  fs.rmSync(dir, { recursive: true, force: true });
});
