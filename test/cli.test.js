'use strict';
// The command line, and every compiled module loaded on its own (an import cycle once broke the CLI while
// everything loaded through the index worked).
const test = require('tape');
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');
const inv = require('..');

const root = path.resolve(__dirname, '..');
const bin = path.join(root, require('../package.json').bin.invdiff);
const cli = (...args) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });

test('invdiff info, help and errors', (t) => {
  const info = cli('info');
  t.equal(info.status, 0, 'info exits 0');
  t.match(info.stdout, /invdiff on LibTorch \d+\.\d+/, info.stdout.split('\n')[0]);
  const json = JSON.parse(cli('info', '--json').stdout);
  t.ok(json.torch && typeof json.cuda === 'boolean' && json.modules.includes('mlp'), 'info --json has backend facts');
  t.equal(cli('--help').status, 0, '--help exits 0');
  const direct = spawnSync(bin, ['info'], { encoding: 'utf8' });
  t.equal(direct.status, 0, `${path.relative(root, bin)} runs as an executable (npx invdiff)`);
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
      else if (e.name.endsWith('.js') && e.name !== 'demo.js') files.push(p);
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
  // --seed also fixes the initial weights, which LibTorch's global generator would draw afresh per process.
  const again = path.join(dir, 'again.safetensors');
  cli('train', 'idm', '--out', again, '--steps', '2', '--crop', '32', '--batch', '2', '--ratio', '0.25', '--seed', '3');
  const [a, b] = [model, again].map((f) => inv.loadSafetensors(f).tensors);
  const names = Object.keys(a);
  t.ok(names.length > 0 && names.every((n) => b[n] && a[n].equal(b[n])), `the same --seed trains the same weights, bit for bit (${names.length} tensors)`);
  const images = path.join(dir, 'images');
  fs.mkdirSync(images);
  return Promise.all([0, 1].map((i) => inv.io.writeImage(path.join(images, `dl${i}.png`), inv.deadLeaves({ count: 1, size: 40, seed: i })))).then(() => {
    const restore = cli('restore', '--model', model, '--input', images, '--out', path.join(dir, 'out'));
    t.equal(restore.status, 0, 'restore exits 0');
    t.match(restore.stdout, /dl0\.png: IDM \(T = 3\) PSNR [\d.]+ dB \(A⁺y [\d.]+ dB\)/, 'restore reports PSNR per image');
    t.ok(fs.existsSync(path.join(dir, 'out', 'dl1.restored.png')) && fs.existsSync(path.join(dir, 'out', 'dl1.pinv.png')), 'restore writes reconstructions');
    const evalRun = cli('eval', '--model', model, '--data', images, '--json', path.join(dir, 'e.json'), '--markdown', path.join(dir, 'e.md'));
    t.equal(evalRun.status, 0, 'eval exits 0');
    const rows = JSON.parse(fs.readFileSync(path.join(dir, 'e.json'), 'utf8'));
    t.deepEqual(rows.map((r) => r.method), ['A⁺y', 'IDM (T = 3)'], 'eval has a row per method');
    t.equal(rows[1].operator.ratio, 0.25, "eval uses the operator the model was trained for");
    t.equal(rows[1].images.length, 2, 'with per-image rows');
    t.match(fs.readFileSync(path.join(dir, 'e.md'), 'utf8'), /\| idm\.safetensors \| blockCS 25% \| IDM \(T = 3\) \|/, 'and a Markdown table');
    const multi = cli('eval', '--model', model, '--data', images, '--operator', 'blockCS', '--ratio', '0.25,0.5', '--json', path.join(dir, 'm.json'));
    t.equal(multi.status, 0, 'eval over two ratios exits 0');
    const mrows = JSON.parse(fs.readFileSync(path.join(dir, 'm.json'), 'utf8'));
    t.deepEqual(mrows.map((r) => `${r.method} ${r.operator.ratio}`), ['A⁺y 0.25', 'IDM (T = 3) 0.25', 'A⁺y 0.5', 'IDM (T = 3) 0.5'], 'eval: a block of rows per operator');
    t.ok(mrows[2].psnr > mrows[0].psnr, `more measurements, a better A⁺y (${mrows[0].psnr.toFixed(1)} → ${mrows[2].psnr.toFixed(1)} dB)`);
    const bench = cli('bench', '--model', model, '--size', '32', '--json');
    t.equal(bench.status, 0, 'bench exits 0');
    t.ok(JSON.parse(bench.stdout).secondsPerReconstruction > 0, 'bench reports a time');
    fs.rmSync(dir, { recursive: true });
  });
});

test('invdiff train unconditional|palette → restore and eval with zero-shot samplers, posterior sampling and MMSE', (t) => {
  const dir = fs.mkdtempSync(path.join(require('os').tmpdir(), 'cli-diffusion-'));
  const prior = path.join(dir, 'prior.safetensors');
  const palette = path.join(dir, 'palette.safetensors');
  const tiny = ['--steps', '2', '--crop', '16', '--batch', '2', '--channels', '8', '--seed', '1'];
  const a = cli('train', 'unconditional', '--out', prior, ...tiny);
  t.equal(a.status, 0, `train unconditional exits 0 (${a.stdout.trim().split('\n').pop()})`);
  const b = cli('train', 'palette', '--out', palette, '--operator', 'inpainting', ...tiny);
  t.equal(b.status, 0, `train palette exits 0 (${b.stdout.trim().split('\n').pop()})`);
  const images = path.join(dir, 'images');
  fs.mkdirSync(images);
  return inv.io.writeImage(path.join(images, 'dl.png'), inv.deadLeaves({ count: 1, size: 20, seed: 2 })).then(() => {
    const restore = cli('restore', '--model', prior, '--input', images, '--out', path.join(dir, 'out'), '--operator', 'blockCS', '--ratio', '0.25', '--steps', '3');
    t.equal(restore.status, 0, 'restore with an unconditional model exits 0');
    t.match(restore.stdout, /dl\.png: DDNM, 3 steps PSNR [\d.]+ dB/, 'the default zero-shot method is DDNM');
    const e2 = cli('eval', '--model', prior, '--data', images, '--method', 'ddnm,dps', '--steps', '2', '--json', path.join(dir, 'e.json'));
    t.equal(e2.status, 0, 'eval of two zero-shot methods exits 0');
    const rows = JSON.parse(fs.readFileSync(path.join(dir, 'e.json'), 'utf8'));
    t.deepEqual(rows.map((r) => r.method), ['A⁺y', 'DDNM, 2 steps', 'DPS, 2 steps'], 'one A⁺y row, then a row per method');
    t.equal(rows[1].operator.family, 'blockCS', 'an unconditional model is evaluated on block CS unless told');
    const e3 = cli('eval', '--model', palette, '--data', images, '--method', 'mmse,heun', '--steps', '2', '--json', path.join(dir, 'p.json'));
    t.equal(e3.status, 0, 'eval of a palette model exits 0');
    const prows = JSON.parse(fs.readFileSync(path.join(dir, 'p.json'), 'utf8'));
    t.deepEqual(prows.map((r) => r.method), ['A⁺y', 'MMSE (1 step)', 'Heun, 2 steps'], 'palette: MMSE and posterior sampling');
    t.equal(prows[1].operator.family, 'inpainting', 'a palette model is evaluated on the degradation it was trained on');
    const e4 = cli('eval', '--model', palette, '--data', images, '--method', 'mmse', '--project', '--json', path.join(dir, 'q.json'));
    t.equal(e4.status, 0, 'eval with --project exits 0');
    const qrows = JSON.parse(fs.readFileSync(path.join(dir, 'q.json'), 'utf8'));
    t.equal(qrows[1].method, 'MMSE (1 step) + projection', '--project reaches the MMSE');
    t.ok(qrows[1].psnr >= prows[1].psnr - 1e-9, `projected onto A x = y it is no worse on noiseless inpainting (${qrows[1].psnr.toFixed(2)} vs ${prows[1].psnr.toFixed(2)} dB)`);
    const misplaced = cli('eval', '--model', palette, '--data', images, '--method', 'heun', '--project');
    t.equal(misplaced.status, 2, '--project without mmse exits 2');
    t.match(misplaced.stderr, /--project applies to mmse, not to heun/, misplaced.stderr.trim());
    const bad = cli('restore', '--model', prior, '--input', images, '--out', path.join(dir, 'o2'), '--method', 'heun');
    t.equal(bad.status, 2, 'heun on an unconditional model exits 2');
    t.match(bad.stderr, /would ignore the measurement/, bad.stderr.trim());
    const mmse = cli('restore', '--model', prior, '--input', images, '--out', path.join(dir, 'o3'), '--method', 'mmse');
    t.match(mmse.stderr, /--method mmse needs a conditional \(palette or invfussion\) model/, mmse.stderr.trim());
    const idmMethod = cli('bench', '--method', 'ddnm');
    t.match(idmMethod.stderr, /does not apply to an IDM model/, idmMethod.stderr.trim());
    fs.rmSync(dir, { recursive: true });
  });
});

test('invdiff bench --all runs the benchmark report of the clone, its flags passed through', (t) => {
  const out = fs.mkdtempSync(path.join(require('os').tmpdir(), 'invdiff-bench-all-'));
  const r = cli('bench', '--all', '--quick', '--no-build', '--only', 'four-element', '--rounds', '2', '--out', out);
  t.equal(r.status, 0, 'it exits 0');
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  t.deepEqual(report.rows.map((row) => row.name), ['100 four-element adds'], '--only chose the workload');
  t.ok(report.quick && report.rounds === 2 && report.rows[0].ts.rounds === 2, '--quick and --rounds reached bench/run.js');
  fs.rmSync(out, { recursive: true, force: true });
  t.end();
});

test('invdiff commands: --help for each, and bad arguments exit 2 with a message', (t) => {
  for (const c of ['info', 'train', 'restore', 'eval', 'bench']) {
    const r = cli(c, '--help');
    t.equal(r.status, 0, `${c} --help exits 0`);
    t.match(r.stdout, new RegExp(`usage: invdiff ${c}`), `${c} --help shows its usage`);
  }
  const cases = [
    [['train'], /train needs a model kind: idm, unconditional, palette or invfussion/],
    [['train', 'invfussion', '--out', 'x', '--ratio', '0.3'], /--ratio: invfussion trains on the paper's mixture of degradations unless --operator names one/],
    [['train', 'unconditional', '--out', 'x', '--T', '3'], /--T applies to idm only/],
    [['train', 'idm'], /--out FILE is required/],
    [['train', 'idm', '--out', 'x', '--steps', '0'], /--steps must be a positive integer, got '0'/],
    [['restore', '--bogus'], /unknown option --bogus for invdiff restore/],
    [['restore', '--input', 'nowhere.png', '--out', 'o', '--model', 'm'], /input 'nowhere.png' does not exist|--model 'm' is neither a file nor a shipped model/],
    [['restore', '--input', 'a', '--out', 'o'], /--model FILE\|NAME is required/],
    [['eval', '--model', 'm.safetensors'], /--data DIR is required/],
    [['restore', '--input', 'a', '--out', 'o', '--model', 'm', '--operator', 'nope'], /--operator must be one of|is neither a file/],
    [['bench', '--size', '30'], /--size must be a positive multiple of 4/],
    [['bench', '--quick'], /--quick belongs to --all \(the whole report\)/],
    [['bench', '--all', '--size', '64'], /bench --all: --size time one restoration, not the report/],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    t.equal(r.status, 2, `invdiff ${args.join(' ')} exits 2`);
    t.match(r.stderr, message, r.stderr.trim());
  }
  t.end();
});
