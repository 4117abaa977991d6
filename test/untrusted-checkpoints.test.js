'use strict';
// Module and model files are untrusted: their options may not decide allocations beyond what their own
// tensors justify, their tensor list must be the model's, and a failed load leaves nothing behind.
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('..');
const { lcg, readUntrusted } = require('./helpers');

const TINY_IDM = { channels: 8, groups: 4, heads: 2, multipliers: [1, 2], blocks: 1, attention: [false, true], steps: 2 };

// A file with metadata and no tensors: 120 bytes or so.
function optionsOnly(file, kind, options) {
  inv.saveSafetensors(file, {}, { 'invdiff.kind': kind, 'invdiff.options': JSON.stringify(options) });
  return file;
}

// Runs fn, which must throw; returns the message, how many tensors it left behind and the CPU bytes it peaked at.
function failure(fn) {
  const before = inv.memory();
  inv.resetPeakMemory();
  let message = 'did not throw';
  try {
    fn();
  } catch (e) {
    message = e.message;
  }
  const after = inv.memory();
  return { message, leftTensors: after.tensors - before.tensors, leftBytes: after.bytes - before.bytes, peak: after.peakBytes - before.bytes };
}

test('options in a small file cannot make a load allocate gigabytes', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-untrusted-'));
  const cases = [
    ['a 60000×60000 linear (14.4 GB)', () => inv.Module.load(optionsOnly(path.join(dir, 'linear.safetensors'), 'linear', { inFeatures: 60000, outFeatures: 60000 }))],
    ['an MLP of 20000-wide layers', () => inv.Module.load(optionsOnly(path.join(dir, 'mlp.safetensors'), 'mlp', { sizes: [20000, 20000, 20000] }))],
    ['a 2048-channel IDM through models.load', () => inv.models.load(optionsOnly(path.join(dir, 'idm.safetensors'), 'idm', { channels: 2048, multipliers: [1, 2, 4] }))],
    ['the paper IDM through IDM.load', () => inv.models.IDM.load(optionsOnly(path.join(dir, 'paper.safetensors'), 'idm', { preset: 'paper' }))],
    ['a wide unconditional U-Net', () => inv.models.Unconditional.load(optionsOnly(path.join(dir, 'unet.safetensors'), 'unconditional', { channels: 1024 }))],
  ];
  for (const [what, load] of cases) {
    const r = failure(load);
    t.match(r.message, /describe a model larger than the 0 values its tensors hold/, `${what}: refused`);
    t.ok(r.peak < 80 * 2 ** 20, `${what}: peak ${(r.peak / 2 ** 20).toFixed(1)} MiB while refusing (under 80 MiB)`);
    t.deepEqual([r.leftTensors, r.leftBytes], [0, 0], `${what}: no tensor and no byte left behind`);
  }
  t.ok(fs.statSync(path.join(dir, 'linear.safetensors')).size < 200, 'those files are under 200 bytes');
  fs.rmSync(dir, { recursive: true });
  t.end();
});

test("a file's tensors must be exactly the parameters its options describe, checked before any value is copied", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-untrusted-'));
  const file = path.join(dir, 'mlp.safetensors');
  const net = inv.nn.mlp({ sizes: [3, 5, 2] });
  net.save(file);
  const { tensors, metadata } = inv.loadSafetensors(file);
  const variant = (name, change, meta = metadata) => {
    const f = path.join(dir, `${name}.safetensors`);
    inv.scope(() => inv.saveSafetensors(f, change({ ...tensors }), meta));
    return f;
  };
  const cases = [
    ['options for a wider model', variant('wider', (s) => s, { ...metadata, 'invdiff.options': JSON.stringify({ sizes: [3, 6, 2] }) }), /does not hold the parameters its options describe \(3 problems\): has '0\.weight' as \[5, 3\], the model \[6, 3\]/],
    ['a missing tensor', variant('missing', ({ '1.bias': _, ...s }) => s), /lacks '1\.bias'/],
    ['an extra tensor', variant('extra', (s) => ({ ...s, '2.weight': inv.zeros([1]) })), /has '2\.weight', which the model does not/],
    ['a renamed tensor', variant('renamed', ({ '0.bias': b, ...s }) => ({ ...s, '0.biases': b })), /\(2 problems\): lacks '0\.bias'; has '0\.biases', which the model does not/],
    ['options that are not JSON', variant('json', (s) => s, { ...metadata, 'invdiff.options': '{sizes: [3' }), /'invdiff\.options' metadata that is not JSON/],
    ['options that are not an object', variant('array', (s) => s, { ...metadata, 'invdiff.options': '[3, 5, 2]' }), /not a JSON object/],
    ['no kind', variant('kind', (s) => s, { 'invdiff.options': metadata['invdiff.options'] }), /has no 'invdiff\.kind' metadata/],
  ];
  for (const [what, f, pattern] of cases) {
    const r = failure(() => inv.Module.load(f));
    t.match(r.message, pattern, `${what}: ${r.message.slice(0, 110)}`);
    t.deepEqual([r.leftTensors, r.leftBytes], [0, 0], `${what}: nothing left behind`);
  }
  const r = failure(() => inv.models.Palette.load(variant('kind2', (s) => s, { ...metadata, 'invdiff.kind': 'unconditional' })));
  t.deepEqual([r.leftTensors, r.leftBytes], [0, 0], 'a wrong kind leaves nothing behind either');
  for (const t2 of Object.values(tensors)) t2.dispose();

  const again = inv.Module.load(file);
  inv.scope(() => {
    const x = inv.randn([2, 3], { seed: 1 });
    t.ok(again.call(x).equal(net.call(x)), 'the intact file still loads and computes the same');
  });
  fs.rmSync(dir, { recursive: true });
  t.end();
});

test('saved models of every family load back under the construction limit', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-untrusted-'));
  const models = [
    ['idm', new inv.models.IDM(TINY_IDM)],
    ['idm (float16 file)', new inv.models.IDM(TINY_IDM), { dtype: 'float16' }],
    ['unconditional', new inv.models.Unconditional({ channels: 8, multipliers: [1, 2], blocks: 1, attention: [false, true] })],
    ['palette', new inv.models.Palette({ channels: 8, multipliers: [1, 2], blocks: 1, attention: [false, true] })],
  ];
  for (const [what, model, opts] of models) {
    const file = path.join(dir, `${what}.safetensors`);
    model.save(file, {}, opts);
    const back = inv.models.load(file);
    const same = inv.scope(() => back.namedParameters().every(([n, p], i) => p.allclose(model.namedParameters()[i][1], { atol: opts ? 1e-3 : 0, rtol: opts ? 1e-2 : 0 })));
    t.ok(same, `${what}: loads with the same parameters`);
    back.dispose();
    model.dispose();
  }
  t.ok(inv.models.IDM.pretrained(10).parameters().length > 0, 'a shipped checkpoint loads');
  fs.rmSync(dir, { recursive: true });
});

test('mutated model files (header digits, flipped bytes, truncations, option values): a JS error or a load, never a crash', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-untrusted-'));
  const file = path.join(dir, 'idm.safetensors');
  const idm = new inv.models.IDM(TINY_IDM);
  idm.save(file);
  idm.dispose();
  const bytes = fs.readFileSync(file);
  const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
  const header = bytes.subarray(8, headerEnd).toString('latin1');
  const digits = [...header.matchAll(/\d/g)].map((m) => 8 + m.index);
  const random = lcg(7);
  const files = [];
  const add = (name, content) => {
    const f = path.join(dir, `${name}-${files.length}.safetensors`);
    fs.writeFileSync(f, content);
    files.push(f);
  };
  for (let i = 0; i < 120; i++) {
    const b = Buffer.from(bytes);
    b[digits[random(digits.length)]] = 0x30 + random(10);
    add('digit', b);
  }
  for (let i = 0; i < 60; i++) {
    const b = Buffer.from(bytes);
    b[8 + random(headerEnd - 8)] ^= 1 << random(8);
    add('flip', b);
  }
  for (let i = 0; i < 40; i++) add('truncated', bytes.subarray(0, random(bytes.length)));
  // Options rewritten to other values, the tensors kept: the limit and the parameter check must hold.
  const { tensors, metadata } = inv.loadSafetensors(file);
  const keys = Object.keys(TINY_IDM);
  for (let i = 0; i < 80; i++) {
    const options = { ...TINY_IDM };
    const key = keys[random(keys.length)];
    options[key] = Array.isArray(options[key]) ? options[key].map((v) => (typeof v === 'number' ? v * [0, 2, 64, 1000][random(4)] : v)) : [0, -1, 3, 64, 4096, 1e6][random(6)];
    const f = path.join(dir, `options-${files.length}.safetensors`);
    inv.saveSafetensors(f, tensors, { ...metadata, 'invdiff.options': JSON.stringify(options) });
    files.push(f);
  }
  for (const t2 of Object.values(tensors)) t2.dispose();
  const results = readUntrusted('model', files);
  const crashes = results.filter((r) => r.outcome === 'crash' || r.outcome === 'bad');
  const errors = results.filter((r) => r.outcome === 'error').length;
  t.equal(results.length, files.length, 'every mutated file was tried');
  t.deepEqual(crashes.map((r) => `${path.basename(r.file)}: ${r.message}`), [], 'no crash and nothing but Errors thrown');
  t.ok(results.filter((r) => r.file.includes('options-') && r.outcome === 'ok').length < 30, 'changed options rarely still fit the tensors');
  console.log(`# checkpoint fuzz: ${files.length} mutated model files, ${files.length - crashes.length} survived (${errors} JS errors, ${files.length - errors - crashes.length} loaded)`);
  fs.rmSync(dir, { recursive: true });
  t.end();
});
