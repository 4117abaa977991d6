'use strict';
// The command line, and every compiled module loaded on its own (an import cycle once broke the CLI while
// everything loaded through the index worked).
const test = require('tape');
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const cli = (...args) => spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), ...args], { encoding: 'utf8' });

test('invdiff info, help and errors', (t) => {
  const info = cli('info');
  t.equal(info.status, 0, 'info exits 0');
  t.match(info.stdout, /invdiff on LibTorch \d+\.\d+/, info.stdout.split('\n')[0]);
  const json = JSON.parse(cli('info', '--json').stdout);
  t.ok(json.torch && typeof json.cuda === 'boolean' && json.modules.includes('mlp'), 'info --json has backend facts');
  t.equal(cli('--help').status, 0, '--help exits 0');
  const direct = spawnSync(path.join(root, 'dist', 'cli.js'), ['info'], { encoding: 'utf8' });
  t.equal(direct.status, 0, 'dist/cli.js runs as an executable (npx invdiff)');
  const bad = cli('nonsense');
  t.equal(bad.status, 2, 'an unknown command exits 2');
  t.match(bad.stderr, /unknown command 'nonsense'/);
  t.end();
});

test('every compiled module loads first, on its own', (t) => {
  const files = [];
  const walk = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.js') && e.name !== 'cli.js' && e.name !== 'demo.js') files.push(p);
    }
  };
  walk(path.join(root, 'dist'));
  const failures = files.filter((f) => spawnSync(process.execPath, ['-e', `require(${JSON.stringify(f)})`], { encoding: 'utf8' }).status !== 0);
  t.deepEqual(failures.map((f) => path.relative(root, f)), [], `${files.length} modules load as the first require`);
  t.end();
});

test('invdiff train idm → restore → eval → bench, end to end on tiny settings', (t) => {
  const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'cli-'));
  const model = path.join(dir, 'idm.safetensors');
  const train = cli('train', 'idm', '--out', model, '--steps', '2', '--crop', '32', '--batch', '2', '--ratio', '0.25', '--seed', '3', '--checkpoint', path.join(dir, 'ckpt.safetensors'), '--plot', path.join(dir, 'loss.png'));
  t.equal(train.status, 0, `train exits 0 (${train.stdout.trim().split('\n').pop()})`);
  t.ok(fs.existsSync(model) && fs.existsSync(path.join(dir, 'ckpt.safetensors')), 'the model and its checkpoint are written');
  t.ok(fs.statSync(path.join(dir, 'loss.png')).size > 1000, 'and the loss chart');
  const images = path.join(dir, 'images');
  fs.mkdirSync(images);
  const inv = require('..');
  return Promise.all([0, 1].map((i) => inv.io.writeImage(path.join(images, `dl${i}.png`), inv.deadLeaves({ count: 1, size: 40, seed: i })))).then(() => {
    const restore = cli('restore', '--model', model, '--input', images, '--out', path.join(dir, 'out'), '--ratio', '0.25');
    t.equal(restore.status, 0, 'restore exits 0');
    t.match(restore.stdout, /dl0\.png: PSNR [\d.]+ dB \(A⁺y [\d.]+ dB\)/, 'restore reports PSNR per image');
    t.ok(fs.existsSync(path.join(dir, 'out', 'dl1.restored.png')) && fs.existsSync(path.join(dir, 'out', 'dl1.pinv.png')), 'restore writes reconstructions');
    const evalRun = cli('eval', '--model', model, '--data', images, '--json', path.join(dir, 'e.json'), '--markdown', path.join(dir, 'e.md'));
    t.equal(evalRun.status, 0, 'eval exits 0');
    const rows = JSON.parse(fs.readFileSync(path.join(dir, 'e.json'), 'utf8'));
    t.deepEqual(rows.map((r) => r.method), ['A⁺y', 'IDM'], 'eval has a row per method');
    t.equal(rows[1].operator.ratio, 0.25, "eval uses the operator the model was trained for");
    t.equal(rows[1].images.length, 2, 'with per-image rows');
    t.match(fs.readFileSync(path.join(dir, 'e.md'), 'utf8'), /\| idm\.safetensors \| blockCS 25% \| IDM \|/, 'and a Markdown table');
    const bench = cli('bench', '--model', model, '--size', '32', '--json');
    t.equal(bench.status, 0, 'bench exits 0');
    t.ok(JSON.parse(bench.stdout).secondsPerReconstruction > 0, 'bench reports a time');
    fs.rmSync(dir, { recursive: true });
  });
});

test('invdiff commands: --help for each, and bad arguments exit 2 with a message', (t) => {
  for (const c of ['info', 'train', 'restore', 'eval', 'bench']) {
    const r = cli(c, '--help');
    t.equal(r.status, 0, `${c} --help exits 0`);
    t.match(r.stdout, new RegExp(`usage: invdiff ${c}`), `${c} --help shows its usage`);
  }
  const cases = [
    [['train'], /train needs a model kind: idm/],
    [['train', 'palette', '--out', 'x'], /not available yet/],
    [['train', 'idm'], /--out FILE is required/],
    [['train', 'idm', '--out', 'x', '--steps', '0'], /--steps must be a positive integer, got '0'/],
    [['restore', '--bogus'], /Unknown option '--bogus'/],
    [['restore', '--input', 'nowhere.png', '--out', 'o', '--model', 'm'], /input 'nowhere.png' does not exist|--model 'm' does not exist/],
    [['restore', '--input', 'a', '--out', 'o'], /--model FILE is required/],
    [['eval', '--model', 'm.safetensors'], /--data DIR is required/],
    [['restore', '--input', 'a', '--out', 'o', '--model', 'm', '--operator', 'nope'], /--operator must be one of|does not exist/],
    [['bench', '--size', '30'], /--size must be a positive multiple of 4/],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    t.equal(r.status, 2, `invdiff ${args.join(' ')} exits 2`);
    t.match(r.stderr, message, r.stderr.trim());
  }
  t.end();
});
