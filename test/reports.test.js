'use strict';
// What a person looks at: eval --report's HTML page (table, labelled grids, error maps, PSNR per image),
// restore --compare, colour images restored by grey models channel by channel, and the page opened in
// headless Chromium (where Debian's chromium is installed: npm test's bootstrap installs it as root).
const test = require('tape');
const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const sharp = require('sharp');
const inv = require('..');

const root = path.resolve(__dirname, '..');
const bin = path.join(root, require('../package.json').bin.invdiff);
const cli = (...args) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8' });
const tmp = (name) => fs.mkdtempSync(path.join(os.tmpdir(), `${name}-`));

// Three different grey images as R, G and B, so a colour path that mixed channels would show.
const colour = (seed, size) => inv.scope(() => inv.cat([0, 1, 2].map((c) => inv.deadLeaves({ count: 1, size, seed: seed + 10 * c, minRadius: 3 })), { dim: 1 }));

test('a grey model restores a colour image channel by channel, as a batch, exactly as it restores each channel alone', async (t) => {
  const idm = inv.models.pretrained('idm-cs10');
  const rgb = colour(1, 40); // 40 is not a multiple of the model's 8: padding, then the crop back
  const spec = { family: 'blockCS', ratio: 0.1 };
  const r = inv.restoreImages(idm, rgb, spec, { seed: 5 });
  t.deepEqual([r.restored.shape, r.baseline.shape], [[1, 3, 40, 40], [1, 3, 40, 40]], 'colour in, colour out');
  // Counted tensors below: what this test makes goes in scopes, so the collector frees nothing of ours meanwhile.
  inv.scope(() => {
    for (let c = 0; c < 3; c++) {
      const alone = inv.restoreImages(idm, rgb.narrow(1, c, 1).contiguous(), spec, { seed: 5 });
      const diff = r.restored.narrow(1, c, 1).sub(alone.restored).abs().max().item();
      t.ok(diff < 1e-4, `channel ${c}: the same as restoring it as a grey image (max difference ${diff.toExponential(1)})`);
      t.ok(r.baseline.narrow(1, c, 1).sub(alone.baseline).abs().max().item() < 1e-5, `channel ${c}: the same A⁺y`);
    }
  });
  const live = inv.memory().tensors;
  const again = await inv.restoreImagesAsync(idm, rgb, spec, { seed: 5 });
  t.equal(inv.scope(() => again.restored.sub(r.restored).abs().max().item()), 0, 'restoreImagesAsync gives the same colour result');
  again.restored.dispose();
  again.baseline.dispose();
  t.equal(inv.memory().tensors, live, 'and leaves no tensors behind');
  const prior = inv.models.pretrained('unconditional');
  const ddnm = inv.restoreImages(inv.samplerRestorer('ddnm', prior, { steps: 2 }), rgb, { family: 'inpainting' }, { seed: 2 });
  t.deepEqual(ddnm.restored.shape, [1, 3, 40, 40], 'samplers on the grey prior restore colour too');
  const colourModel = new inv.models.IDM({ channels: 8, blocks: 1, heads: 2, imageChannels: 3 });
  t.throws(() => inv.restoreImages(colourModel, inv.zeros([1, 1, 32, 32]), spec), /restores 3-channel images, got 1 channel/, 'a colour model is not given grey images');
  colourModel.dispose();
  prior.dispose();
  idm.dispose();
  t.end();
});

const set = path.join(root, '..', 'shared', 'data', 'CBSD68');
// Measured once with the shipped idm-cs10 (README, "Colour"); A⁺y is 12.63 dB.
const COLOUR_PSNR = 22.64;
const LUMA_PSNR = 23.94;
test('colour quality on CBSD68 matches what the README states for the per-channel path', { skip: !fs.existsSync(set) && 'no ../shared/data/CBSD68' }, async (t) => {
  // README, "Colour": centre 128² crops of the first 4 CBSD68 images at 10% block CS, seed i for image i.
  const idm = inv.models.pretrained('idm-cs10');
  const names = fs.readdirSync(set).sort().slice(0, 4);
  const rgb = [];
  const y = [];
  for (const [i, n] of names.entries()) {
    const crop = (x) => x.narrow(2, (x.shape[2] - 128) >> 1, 128).narrow(3, (x.shape[3] - 128) >> 1, 128).contiguous();
    const [c, l] = [crop(await inv.io.readImage(path.join(set, n), { mode: 'rgb' })), crop(await inv.io.readImage(path.join(set, n), { mode: 'y' }))];
    const [a, b] = [inv.restoreImages(idm, c, { family: 'blockCS', ratio: 0.1 }, { seed: i }), inv.restoreImages(idm, l, { family: 'blockCS', ratio: 0.1 }, { seed: i })];
    rgb.push(inv.metrics.psnr(a.restored, c));
    y.push(inv.metrics.psnr(b.restored, l));
  }
  const mean = (v) => v.reduce((s, x) => s + x, 0) / v.length;
  t.ok(Math.abs(mean(rgb) - COLOUR_PSNR) < 0.05, `RGB PSNR ${mean(rgb).toFixed(2)} dB, as stated (${COLOUR_PSNR})`);
  t.ok(Math.abs(mean(y) - LUMA_PSNR) < 0.05, `Y-channel PSNR ${mean(y).toFixed(2)} dB, as stated (${LUMA_PSNR})`);
  idm.dispose();
  t.end();
});

async function decodes(t, file, width, height, channels) {
  const m = await sharp(file).metadata();
  t.deepEqual([m.format, m.width, m.height, m.channels], ['png', width, height, channels], `${path.basename(file)} decodes as a ${width}×${height} PNG with ${channels} channel(s)`);
}

// The page in a real browser: it loads, every image decodes, nothing is logged as an error. A copy of the
// page with a probe script appended writes what it saw into the DOM that --dump-dom prints.
function inChromium(page) {
  const probe = `<script>
const errors = [];
addEventListener('error', (e) => errors.push(String(e.message || (e.target && e.target.src) || 'error')), true);
const error = console.error; console.error = (...a) => { errors.push(a.join(' ')); error(...a); };
addEventListener('load', () => {
  const images = [...document.images].map((i) => ({ src: i.getAttribute('src'), width: i.naturalWidth, complete: i.complete }));
  document.body.setAttribute('data-probe', JSON.stringify({ images, errors, title: document.title, tables: document.querySelectorAll('table').length }));
});
</script>`;
  const copy = path.join(path.dirname(page), 'probe.html');
  fs.writeFileSync(copy, probe + fs.readFileSync(page, 'utf8'));
  const args = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--user-data-dir=' + tmp('chromium-profile'), '--virtual-time-budget=5000', '--dump-dom', `file://${copy}`];
  const r = spawnSync('chromium', args, { encoding: 'utf8', timeout: 60000 });
  const m = /data-probe="([^"]*)"/.exec(r.stdout ?? '');
  return m ? JSON.parse(m[1].replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>')) : { failed: `${r.status} ${r.error ?? ''} ${(r.stderr ?? '').slice(-400)}` };
}
const hasChromium = spawnSync('sh', ['-c', 'command -v chromium'], { stdio: 'ignore' }).status === 0;

test('eval --report writes the HTML report (table, labelled grids with error maps, PSNR per image); restore --compare a side by side', async (t) => {
  const dir = tmp('reports');
  const images = path.join(dir, 'images');
  fs.mkdirSync(images);
  for (let i = 0; i < 3; i++) await inv.io.writeImage(path.join(images, `im${i}.png`), colour(3 + i, 32));
  const report = path.join(dir, 'report');
  const r = cli('eval', '--model', 'idm-cs10,unconditional', '--data', images, '--operator', 'blockCS', '--ratio', '0.1', '--method', 'ddnm', '--steps', '2', '--report', report, '--json', path.join(dir, 'rows.json'));
  t.equal(r.status, 0, `eval --report exits 0 (${r.stderr.trim().split('\n').pop()})`);
  const rows = JSON.parse(fs.readFileSync(path.join(dir, 'rows.json'), 'utf8'));
  t.deepEqual(rows.map((x) => x.method), ['A⁺y', 'IDM (T = 3)', 'DDNM, 2 steps'], 'one A⁺y row for both models: A⁺y no longer depends on the model');
  const html = fs.readFileSync(path.join(report, 'report.html'), 'utf8');
  t.match(html, /<table><tr><th>model<\/th><th>operator<\/th><th>method<\/th><th>PSNR \(dB\)<\/th>/, 'the page has the table');
  for (const label of ['ground truth', 'A⁺y', 'IDM (T = 3)', '|error| × 4, IDM (T = 3)']) t.ok(html.includes(`<div class="label">${label}</div>`), `a column labelled '${label}'`);
  t.match(html, /<img src="grid-1\.png"[^>]*>[\s\S]*<img src="grid-2\.png"[\s\S]*<img src="psnr\.png"/, 'a grid per model and operator, then the PSNR chart');
  await decodes(t, path.join(report, 'grid-1.png'), 32 * 4, 32 * 3, 3);
  await decodes(t, path.join(report, 'psnr.png'), 720, 360, 4);
  if (hasChromium) {
    const seen = inChromium(path.join(report, 'report.html'));
    t.notOk(seen.failed, seen.failed ?? 'headless Chromium ran the page');
    if (!seen.failed) {
      t.deepEqual(seen.images.map((i) => i.src), ['grid-1.png', 'grid-2.png', 'psnr.png'], 'Chromium sees every image');
      t.ok(seen.images.every((i) => i.complete && i.width > 0), `and each decodes (${seen.images.map((i) => i.width).join(', ')} px wide)`);
      t.deepEqual(seen.errors, [], 'with no errors on the console');
      t.equal(seen.tables, 1, 'and the table');
    }
  } else t.comment('chromium is not installed (npm test installs it as root on Debian): the page was checked by structure and decoding only');
  const restore = cli('restore', '--model', 'idm-cs10', '--input', path.join(images, 'im0.png'), '--out', path.join(dir, 'out'), '--compare', '--quiet');
  t.equal(restore.status, 0, 'restore --compare exits 0');
  await decodes(t, path.join(dir, 'out', 'im0.compare.png'), 96, 32, 3);
  await decodes(t, path.join(dir, 'out', 'im0.restored.png'), 32, 32, 3);
  const grey = cli('restore', '--model', 'idm-cs10', '--input', path.join(images, 'im0.png'), '--out', path.join(dir, 'grey'), '--mode', 'y', '--quiet');
  t.equal(grey.status, 0, 'restore --mode y exits 0');
  await decodes(t, path.join(dir, 'grey', 'im0.restored.png'), 32, 32, 1);
  const truth = (await sharp(path.join(images, 'im0.png')).raw().toBuffer());
  const side = await sharp(path.join(dir, 'out', 'im0.compare.png')).extract({ left: 0, top: 0, width: 32, height: 32 }).raw().toBuffer();
  t.ok(truth.equals(side), 'the comparison starts with the ground truth, pixel for pixel');
  fs.rmSync(dir, { recursive: true });
  t.end();
});
