'use strict';
// npm run demo's job, end to end in a child process on short settings: the report, its table and grids.
const test = require('tape');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');

test('the demo writes a report with IDM, DDNM and A⁺y rows, grids and the live training losses', (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-'));
  const run = spawnSync(process.execPath, [path.join(root, 'dist', 'demo.js'), '--out', out, '--train-steps', '3', '--ddnm-steps', '2'], { encoding: 'utf8' });
  t.equal(run.status, 0, `the demo exits 0 (${run.stderr.trim() || run.stdout.trim().split('\n').pop()})`);
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  const methods = new Set(report.rows.map((r) => r.method));
  for (const m of ['A⁺y', 'IDM (T = 3)', 'DDNM, 2 steps']) t.ok(methods.has(m), `a row for ${m}`);
  t.deepEqual([...new Set(report.rows.map((r) => r.ratio))], [10, 30, 50], 'at the three shipped ratios');
  const idm = report.rows.filter((r) => r.method === 'IDM (T = 3)');
  const pinv = report.rows.filter((r) => r.method === 'A⁺y');
  t.ok(idm.every((r, i) => r.psnr > pinv[i].psnr + 3), `IDM beats A⁺y by over 3 dB at every ratio (${idm.map((r, i) => (r.psnr - pinv[i].psnr).toFixed(1)).join(', ')})`);
  t.equal(report.losses.length, 3, 'the live run reports every step');
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  t.match(html, /<img src="cs30\.png"/, 'the report shows the grids');
  t.ok(fs.statSync(path.join(out, 'cs10.png')).size > 10000, 'the grids are written');
  t.match(run.stdout, /report: .*report\.html/, 'the demo says where the report is');
  if (fs.existsSync(path.join(root, 'models', 'invfussion-cpu32.safetensors'))) {
    const rows = report.invfussion;
    t.deepEqual([...new Set(rows.map((r) => r.degradation))], ['motion blur', 'inpainting', 'matrix'], 'InvFussion: one model for three degradations');
    t.deepEqual([...new Set(rows.map((r) => r.method))], ['A⁺y', 'InvFussion MMSE', 'Palette MMSE', 'DDNM, 2 steps'], 'beside Palette and DDNM');
    const at = (d, m) => rows.find((r) => r.degradation === d && r.method === m).psnr;
    t.ok(at('inpainting', 'InvFussion MMSE') > at('inpainting', 'A⁺y') + 1, `InvFussion's MMSE beats A⁺y on inpainting (${at('inpainting', 'InvFussion MMSE').toFixed(2)} vs ${at('inpainting', 'A⁺y').toFixed(2)} dB)`);
    t.ok(fs.existsSync(path.join(out, 'invfussion-motion-blur.png')), 'with its grids');
  } else {
    t.comment('no models/invfussion-cpu32.safetensors (a package install): the InvFussion section is skipped');
  }
  fs.rmSync(out, { recursive: true });
  t.end();
});
