'use strict';
// scripts/train-invfussion.js --init: a run continued from a shipped cpu32 file starts from its weights, keeps
// its training record under 'earlier', and refuses a file that is not a cpu32 model of that kind.
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const inv = require('..');

const root = path.join(__dirname, '..');
const script = path.join(root, 'scripts', 'train-invfussion.js');
const shipped = path.join(root, 'models', 'unconditional-cpu32.safetensors');
const train400 = path.resolve(root, '..', 'shared', 'data', 'Train400');
const run = (...args) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', env: { ...process.env, INVDIFF_NUM_THREADS: '1' } });

test('train-invfussion --init continues a shipped model and records its lineage', (t) => {
  if (!fs.existsSync(shipped) || !fs.existsSync(train400)) {
    t.comment('skipped: needs models/unconditional-cpu32.safetensors and ../shared/data/Train400 (a clone with the shared data)');
    return t.end();
  }
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-init-'));
  const r = run('--model', 'unconditional', '--init', shipped, '--steps', '2', '--batch', '2', '--seed', '1', '--out', out);
  t.equal(r.status, 0, `the run ends cleanly${r.status ? `: ${r.stderr}` : ''}`);
  const file = path.join(out, 'unconditional-cpu32.safetensors');
  const before = inv.models.load(shipped), after = inv.models.load(file);
  const record = JSON.parse(after.metadata['invdiff.trained']);
  const earlier = JSON.parse(before.metadata['invdiff.trained']);
  t.equal(record.steps, 2, 'this run trained 2 steps');
  t.equal(record.init, 'unconditional-cpu32.safetensors', 'names the file it started from');
  t.deepEqual(record.earlier, earlier, "and keeps that file's record under 'earlier'");
  t.equal(inv.models.describe(file).steps, 2 + earlier.steps, 'the card counts the whole lineage');
  // Two Adam steps of 5e-4 from the shipped weights: changed, but nowhere near a fresh network.
  const [p, q] = [before.parameters(), after.parameters()];
  let moved = 0, far = 0;
  inv.scope(() => p.forEach((a, i) => {
    const d = a.sub(q[i]).abs().max().item();
    if (d > 0) moved++;
    if (d > 0.05) far++;
  }));
  t.ok(moved > p.length / 2, `most tensors moved (${moved} of ${p.length})`);
  t.equal(far, 0, 'none moved further than a few steps allow: the run started from the file');
  before.dispose();
  after.dispose();

  const wrong = run('--model', 'palette', '--init', shipped, '--steps', '1', '--out', out);
  t.notEqual(wrong.status, 0, 'an unconditional file given to --model palette fails');
  t.match(wrong.stderr, /palette/i, `saying which kind it expected: ${wrong.stderr.trim()}`);
  const missing = run('--model', 'palette', '--init', path.join(out, 'nope.safetensors'), '--steps', '1', '--out', out);
  t.match(missing.stderr, /--init must be an existing \.safetensors file/, 'a missing file is named');
  fs.rmSync(out, { recursive: true, force: true });
  t.end();
});
