'use strict';
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const sharp = require('sharp');
const zlib = require('zlib');
const inv = require('..');
const { lcg, readUntrusted } = require('./helpers');

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

// PNG chunks need their CRC (libpng checks it), so a header can be crafted with any size.
function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
function pngHeader(width, height) {
  const ihdr = Buffer.alloc(25);
  ihdr.writeUInt32BE(13, 0);
  ihdr.write('IHDR', 4, 'ascii');
  ihdr.writeUInt32BE(width, 8);
  ihdr.writeUInt32BE(height, 12);
  ihdr.set([8, 0, 0, 0, 0], 16); // 8-bit gray
  ihdr.writeUInt32BE(crc32(ihdr.subarray(4, 21)), 21);
  const pixels = zlib.deflateSync(Buffer.alloc(64)); // far fewer rows than declared
  const idat = Buffer.alloc(12 + pixels.length);
  idat.writeUInt32BE(pixels.length, 0);
  idat.write('IDAT', 4, 'ascii');
  pixels.copy(idat, 8);
  idat.writeUInt32BE(crc32(idat.subarray(4, 8 + pixels.length)), 8 + pixels.length);
  const end = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr, idat, end]);
}
// A 24-bit BMP header (54 bytes) declaring width × height, with `pixels` bytes after it.
function bmpHeader(width, height, pixels = 0) {
  const h = Buffer.alloc(54 + pixels);
  h.write('BM', 0);
  h.writeUInt32LE(h.length, 2);
  h.writeUInt32LE(54, 10);
  h.writeUInt32LE(40, 14);
  h.writeInt32LE(width, 18);
  h.writeInt32LE(height, 22);
  h.writeUInt16LE(1, 26);
  h.writeUInt16LE(24, 28);
  return h;
}
async function message(promise) {
  try {
    (await promise).dispose();
    return 'no error';
  } catch (e) {
    return e.message;
  }
}

test('a pixel limit, checked before decoding, names the size; zero-sized images are errors', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'small.png');
  await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 200, g: 100, b: 50 } } }).png().toFile(file);
  t.match(await message(inv.io.readImage(file, { limitInputPixels: 59999 })), /'.*small\.png' is 300×200 = 60000 pixels, more than the limit of 59999 \(option 'limitInputPixels'; false lifts it\)/);
  t.equal(await message(inv.io.readImage(file, { limitInputPixels: 60000 })), 'no error', 'at the limit it reads');
  t.match(await message(inv.io.readImage(file, { limitInputPixels: -3 })), /option 'limitInputPixels' must be a positive integer or false, got -3/);
  const bomb = path.join(dir, 'bomb.png');
  fs.writeFileSync(bomb, pngHeader(20000, 20000));
  const before = process.memoryUsage().rss;
  t.match(await message(inv.io.readImage(bomb)), /20000×20000 = 400000000 pixels, more than the limit of 268402689/, `a ${fs.statSync(bomb).size}-byte PNG declaring 20000² is refused by the default limit (sharp's)`);
  t.match(await message(inv.io.readImage(bomb, { limitInputPixels: false })), /cannot decode/, 'without a limit the decoder finds it has no pixel data');
  t.ok(process.memoryUsage().rss - before < 256 * 2 ** 20, 'and nothing near its size was allocated');
  const bmpBomb = path.join(dir, 'bomb.bmp');
  fs.writeFileSync(bmpBomb, bmpHeader(30000, 30000));
  t.match(await message(inv.io.readImage(bmpBomb)), /30000×30000 = 900000000 pixels, more than the limit/, 'a 54-byte BMP declaring 30000² (3.7 GB for bmp-ts)');
  fs.writeFileSync(bmpBomb, bmpHeader(10000, 10000, 100));
  t.match(await message(inv.io.readImage(bmpBomb)), /is truncated: its header declares 10000×10000 at 24 bits \(300000000 bytes of pixels\), the file holds 100/, 'within the limit, rows the file does not hold are refused before bmp-ts allocates them');
  const flat = path.join(dir, 'flat.bmp');
  fs.writeFileSync(flat, bmpHeader(16, 0));
  t.match(await message(inv.io.readImage(flat)), /'.*flat\.bmp' is 16×0; an image needs at least one pixel/, 'a BMP with a zero dimension is an error, not an empty tensor');
  fs.writeFileSync(flat, bmpHeader(0, 16));
  t.match(await message(inv.io.readImage(flat)), /is 0×16/);
  fs.writeFileSync(flat, bmpHeader(-4, 16, 64));
  t.match(await message(inv.io.readImage(flat)), /is -4×16/, 'a negative width too');
  fs.writeFileSync(path.join(dir, 'short.bmp'), Buffer.from('BM'));
  t.match(await message(inv.io.readImage(path.join(dir, 'short.bmp'))), /cannot decode .*not a BMP file/);
  fs.rmSync(dir, { recursive: true });
});

test('a 39-MP RGB photo (117 M samples, past a JS array) reads and writes without one', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'large.png');
  const [width, height] = [6500, 6000];
  await sharp({ create: { width, height, channels: 3, background: { r: 255, g: 0, b: 51 } } })
    .composite([{ input: { create: { width: 100, height: 100, channels: 3, background: { r: 0, g: 255, b: 0 } } }, left: 6400, top: 5900 }])
    .png({ compressionLevel: 1 })
    .toFile(file);
  const pixel = (x, row, col) => Array.from(x.narrow(2, row, 1).narrow(3, col, 1).flatten().toFloat32Array()).map((v) => Math.round(((v + 1) / 2) * 255));
  const out = path.join(dir, 'again.png');
  await inv.scopeAsync(async () => {
    const x = await inv.io.readImage(file);
    t.deepEqual(x.shape, [1, 3, height, width], `1×3×${height}×${width}`);
    t.deepEqual(pixel(x, 0, 0), [255, 0, 51], 'a pixel of the background');
    t.deepEqual(pixel(x, height - 1, width - 1), [0, 255, 0], 'the corner patch');
    await inv.io.writeImage(out, x);
  });
  const written = await sharp(out).metadata();
  t.deepEqual([written.width, written.height, written.channels], [width, height, 3], 'and writes back');
  await inv.scopeAsync(async () => {
    const y = await inv.io.readImage(out, { mode: 'y' });
    t.ok(Math.abs(y.narrow(2, 0, 1).narrow(3, 0, 1).item() - ((16 + 65.481 + 24.966 * 0.2) / 255) * 2 + 1) < 1e-5, 'its Y channel, from the written file');
  });
  fs.rmSync(dir, { recursive: true });
});

test('mutated images (flipped bytes, truncations, declared sizes): a JS error or an image, never a crash (child processes)', async (t) => {
  const dir = tmp();
  const bases = [];
  await inv.scopeAsync(async () => {
    const gray = inv.deadLeaves({ count: 1, size: 32, seed: 3 }).narrow(2, 0, 24);
    const rgb = inv.cat([gray, gray.flip([2]), gray.flip([3])], { dim: 1 });
    for (const [name, x] of [['gray.png', gray], ['rgb.png', rgb], ['rgb.jpg', rgb], ['gray.bmp', gray], ['rgb.bmp', rgb], ['rgb.tif', rgb], ['rgb.webp', rgb]]) {
      const f = path.join(dir, name);
      await inv.io.writeImage(f, x);
      bases.push(f);
    }
  });
  const sixteen = path.join(dir, 'gray16.png');
  await sharp(Uint16Array.from({ length: 32 * 24 }, (_, i) => i * 85), { raw: { width: 32, height: 24, channels: 1 } }).toColourspace('grey16').png().toFile(sixteen);
  bases.push(sixteen);
  const random = lcg(11);
  const files = [];
  const bmpSizes = new Map(); // file → the error its declared size must give, judged before bmp-ts sees it
  const add = (base, kind, bytes) => {
    const f = path.join(dir, `${kind}-${files.length}${path.extname(base)}`);
    fs.writeFileSync(f, bytes);
    files.push(f);
    return f;
  };
  const sizes = [0, 1, 7, 65535, 0x7fffffff, 0xffffffff, 30000, 16383];
  for (const base of bases) {
    const bytes = fs.readFileSync(base);
    for (let i = 0; i < 20; i++) {
      const b = Buffer.from(bytes);
      for (let k = 0; k < 1 + random(4); k++) b[random(Math.min(b.length, 200))] = random(256); // the headers live near the start
      add(base, 'flip', b);
    }
    for (let i = 0; i < 8; i++) add(base, 'truncated', bytes.subarray(0, random(bytes.length)));
    for (let i = 0; i < 12; i++) {
      const b = Buffer.from(bytes);
      const [w, h] = [sizes[random(sizes.length)], sizes[random(sizes.length)]];
      if (base.endsWith('.bmp')) {
        b.writeUInt32LE(w, 18);
        b.writeUInt32LE(h, 22);
        const [sw, sh] = [b.readInt32LE(18), Math.abs(b.readInt32LE(22))];
        const expected = sw <= 0 || sh === 0 ? /an image needs at least one pixel/ : sw * sh > inv.io.DEFAULT_PIXEL_LIMIT ? /more than the limit/ : sw * sh * 3 > bytes.length ? /is truncated/ : undefined;
        const f = add(base, 'size', b);
        if (expected) bmpSizes.set(f, expected);
        continue;
      } else if (base.endsWith('.png')) {
        b.writeUInt32BE(w, 16);
        b.writeUInt32BE(h, 20);
        b.writeUInt32BE(crc32(b.subarray(12, 29)), 29); // a consistent IHDR, so the size is what is tested
      } else continue;
      add(base, 'size', b);
    }
  }
  const results = readUntrusted('image', files);
  const crashes = results.filter((r) => r.outcome === 'crash' || r.outcome === 'bad');
  const errors = results.filter((r) => r.outcome === 'error').length;
  t.equal(results.length, files.length, 'every mutated image was tried');
  t.deepEqual(crashes.map((r) => `${path.basename(r.file)}: ${r.message}`), [], 'no crash and nothing but Errors thrown');
  const judged = results.filter((r) => bmpSizes.has(r.file));
  t.ok(judged.length >= 20, `${judged.length} BMPs declaring zero, negative, huge or absent sizes`);
  t.deepEqual(judged.filter((r) => r.outcome !== 'error' || !bmpSizes.get(r.file).test(r.message)).map((r) => `${path.basename(r.file)}: ${r.outcome} ${r.message}`), [], 'each refused for its size before decoding');
  console.log(`# image fuzz: ${files.length} mutated images, ${files.length - crashes.length} survived (${errors} JS errors, ${files.length - errors - crashes.length} decoded)`);
  fs.rmSync(dir, { recursive: true });
});
