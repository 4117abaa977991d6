'use strict';
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const sharp = require('sharp');
const inv = require('..');

const shared = path.resolve(__dirname, '..', '..', 'shared', 'data');
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-io-'));

test('write then read is exact on 8-bit values, for every writable format', async (t) => {
  const dir = tmp();
  await inv.scopeAsync(async () => {
    const img = inv.deadLeaves({ count: 1, size: 16, seed: 1 }).add(1).mul(127.5).round().div(127.5).sub(1); // on the 8-bit grid
    const rgb = inv.cat([img, img.flip([2]), img.flip([3])], { dim: 1 });
    for (const ext of ['.png', '.tif', '.bmp', '.webp']) {
      for (const [name, x] of [['gray', img], ['rgb', rgb]]) {
        const file = path.join(dir, `${name}${ext}`);
        await inv.io.writeImage(file, x);
        const back = await inv.io.readImage(file);
        t.deepEqual(back.shape, x.shape, `${name}${ext}: ${x.shape[1]} channel(s) back`);
        const err = back.sub(x).abs().max().item();
        t.ok(err < 1e-6, `${name}${ext}: exact (max error ${err.toFixed(4)})`);
      }
    }
  });
  fs.rmSync(dir, { recursive: true });
});

test('BMP colours, the Y channel and 16-bit files follow their conventions', async (t) => {
  const dir = tmp();
  // A 2×1 24-bit BMP written by hand: bottom-up rows of BGR bytes padded to 4 bytes.
  const header = Buffer.alloc(54);
  header.write('BM', 0);
  header.writeUInt32LE(54 + 8, 2);
  header.writeUInt32LE(54, 10);
  header.writeUInt32LE(40, 14);
  header.writeInt32LE(2, 18);
  header.writeInt32LE(1, 22);
  header.writeUInt16LE(1, 26);
  header.writeUInt16LE(24, 28);
  header.writeUInt32LE(8, 34);
  const pixels = Buffer.from([0, 0, 255, /* red */ 255, 0, 0, /* blue */ 0, 0]);
  fs.writeFileSync(path.join(dir, 'rb.bmp'), Buffer.concat([header, pixels]));
  await inv.scopeAsync(async () => {
    const rb = await inv.io.readImage(path.join(dir, 'rb.bmp'));
    t.deepEqual(rb.toArray(), [[[[1, -1]], [[-1, -1]], [[-1, 1]]]], 'red then blue, channels in RGB order');
    const y = await inv.io.readImage(path.join(dir, 'rb.bmp'), { mode: 'y' });
    const expected = [(16 + 65.481) / 255, (16 + 24.966) / 255].map((v) => v * 2 - 1);
    t.ok(Math.abs(y.toFloat32Array()[0] - expected[0]) < 1e-6 && Math.abs(y.toFloat32Array()[1] - expected[1]) < 1e-6, 'Y = 16 + 65.481 R + 128.553 G + 24.966 B (8-bit)');
    // RGB with R = G = B (like Set11's palette TIFFs) reads as a gray image, which keeps its 0-255 values in
    // 'y' mode as gray files do; colour pixels go through YCbCr (16-235).
    const neutral = path.join(dir, 'neutral.png');
    await inv.io.writeImage(neutral, inv.ones([1, 3, 2, 2]));
    t.deepEqual((await inv.io.readImage(neutral)).shape, [1, 1, 2, 2], 'neutral RGB reads as one channel');
    t.equal((await inv.io.readImage(neutral, { mode: 'y' })).max().item(), 1, 'and keeps its values in y mode');
    const colour = path.join(dir, 'green.png');
    await inv.io.writeImage(colour, inv.tensor([-1, 1, -1], [1, 3, 1, 1]));
    t.ok(Math.abs((await inv.io.readImage(colour, { mode: 'y' })).item() - ((16 + 128.553) / 255 * 2 - 1)) < 1e-6, 'green has Y = 16 + 128.553');
    t.deepEqual((await inv.io.readImage(colour, { grayscale: true })).shape, [1, 1, 1, 1], 'grayscale: one channel');
    t.deepEqual((await inv.io.readImage(neutral, { mode: 'rgb' })).shape, [1, 3, 2, 2], 'rgb mode gives three channels even for gray content');
    // 16-bit: a ramp that 8 bits could not hold.
    const ramp = Uint16Array.from({ length: 16 }, (_, i) => i * 4369);
    const file16 = path.join(dir, 'ramp16.png');
    await sharp(ramp, { raw: { width: 16, height: 1, channels: 1 } }).toColourspace('grey16').png().toFile(file16); // a Uint16Array is 16-bit input
    t.equal((await sharp(file16).metadata()).depth, 'ushort', 'the file is 16-bit');
    const r16 = (await inv.io.readImage(file16)).toFloat32Array();
    t.ok(r16.every((v, i) => Math.abs(v - ((i * 4369) / 65535) * 2 + 1) < 1e-6), '16-bit values keep their precision');
  });
  try { await inv.io.readImage(path.join(dir, 'missing.png')); t.fail('no error'); } catch (err) { t.match(err.message, /readImage: cannot read .*missing.png.*no such file/); }
  fs.writeFileSync(path.join(dir, 'junk.png'), 'not an image');
  try { await inv.io.readImage(path.join(dir, 'junk.png')); t.fail('no error'); } catch (err) { t.match(err.message, /readImage: cannot decode/); }
  try { await inv.io.writeImage(path.join(dir, 'x.png'), inv.ones([2, 2])); t.fail('no error'); } catch (err) { t.match(err.message, /expected a 1×C×H×W or C×H×W image/); }
  fs.rmSync(dir, { recursive: true });
});

test('the shared benchmark sets load (TIFF with palettes, PNG, BMP, medical PNG)', async (t) => {
  if (!fs.existsSync(shared)) {
    t.comment(`no ${shared}: the shared data sets are not beside this checkout`);
    t.end();
    return;
  }
  await inv.scopeAsync(async () => {
    const set11 = await inv.io.readImageFolder(path.join(shared, 'Set11'), { mode: 'y' });
    t.equal(set11.length, 11, 'Set11: 11 images');
    t.ok(set11.every(({ image }) => image.shape[1] === 1 && image.min().item() >= -1 && image.max().item() <= 1), 'one channel in [-1, 1]');
    t.ok(set11.every(({ image }) => image.std().item() > 0.05), 'every image has content (palette TIFFs decoded, not blank)');
    t.deepEqual(set11.map(({ image }) => image.shape.slice(2).join('x')).filter((s) => s === '256x256').length, 9, 'nine of them 256×256');
    const cbsd = await inv.io.readImage(path.join(shared, 'CBSD68', fs.readdirSync(path.join(shared, 'CBSD68')).sort()[0]));
    t.equal(cbsd.shape[1], 3, 'CBSD68: RGB');
    const set14 = await inv.io.readImageFolder(path.join(shared, 'Set14'));
    t.equal(set14.length, 14, 'Set14 (BMP): 14 images');
    const mri = path.join(shared, 'medical', 'MRI_brain50_ISTA-Net');
    const slice = await inv.io.readImage(path.join(mri, fs.readdirSync(mri).sort()[0]));
    t.deepEqual(slice.shape, [1, 1, 256, 256], 'an MRI slice: 1×256×256');
  });
});
