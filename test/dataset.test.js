'use strict';
const test = require('tape');
const fs = require('fs');
const os = require('os');
const path = require('path');
const inv = require('..');

test('batches: shapes, crops taken from the images, seeded order, epochs', (t) => {
  inv.scope(() => {
    const images = [0, 1, 2].map((i) => inv.full([1, 1, 12, 10], i)); // image i is constant i
    const ds = new inv.ImageDataset(images, { crop: 8, batch: 3, seed: 1 });
    const b = ds.next();
    t.deepEqual(b.shape, [3, 1, 8, 8]);
    const values = Array.from(b.mean({ dim: [1, 2, 3] }).toFloat32Array()).sort();
    t.deepEqual(values, [0, 1, 2], 'one epoch visits every image once');
    t.equal(ds.epoch, 1);
    ds.next();
    t.equal(ds.epoch, 2, 'the next batch starts a new epoch');
    const again = new inv.ImageDataset(images, { crop: 8, batch: 3, seed: 1 });
    t.ok(again.next().equal(b), 'same seed, same batches');
    const other = new inv.ImageDataset(images, { crop: 8, batch: 3, seed: 2 });
    const orders = [other.next(), other.next(), other.next()].map((x) => Array.from(x.mean({ dim: [1, 2, 3] }).toFloat32Array()).join());
    t.ok(orders.some((o) => o !== '0,1,2'), 'the order is shuffled');
    ds.dispose();
  });
  t.end();
});

test('crops and the 8 flips/rotations are pieces of the image', (t) => {
  inv.scope(() => {
    const img = inv.arange(36).reshape([1, 1, 6, 6]).to({ dtype: 'float32' });
    const ds = new inv.ImageDataset([img], { crop: 6, batch: 1, seed: 3 });
    const seen = new Set();
    const allowed = new Set();
    let x = img;
    for (let k = 0; k < 4; k++) {
      allowed.add(x.toFloat32Array().join());
      allowed.add(x.transpose(2, 3).toFloat32Array().join());
      x = x.flip([3]).transpose(2, 3);
    }
    t.equal(allowed.size, 8, 'the dihedral group of the square has 8 elements');
    for (let i = 0; i < 80; i++) seen.add(ds.next().toFloat32Array().join());
    t.ok([...seen].every((s) => allowed.has(s)), 'every crop is a flip/rotation of the image');
    t.equal(seen.size, 8, 'and all 8 occur');
    const plain = new inv.ImageDataset([img], { crop: 3, batch: 4, seed: 4, augment: false });
    const crops = plain.next();
    const ok = [0, 1, 2, 3].every((i) => {
      const c = crops.select(0, i).select(0, 0);
      const first = c.select(0, 0).select(0, 0).item();
      const r = Math.floor(first / 6), q = first % 6;
      return c.equal(img.select(0, 0).select(0, 0).narrow(0, r, 3).narrow(1, q, 3));
    });
    t.ok(ok, 'without augmentation a crop is a window of the image');
  });
  t.end();
});

test('mixed sizes, folders, prefetch and errors', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'invdiff-ds-'));
  await inv.scopeAsync(async () => {
    await inv.io.writeImage(path.join(dir, 'a.png'), inv.deadLeaves({ count: 1, size: 20, seed: 1 }));
    await inv.io.writeImage(path.join(dir, 'b.png'), inv.deadLeaves({ count: 1, size: 12, seed: 2 }));
    const ds = await inv.ImageDataset.fromFolder(dir, { crop: 16, batch: 2, seed: 1 });
    t.equal(ds.size, 2, 'two images read from the folder');
    t.deepEqual((await ds.nextAsync()).shape, [2, 1, 16, 16], 'the smaller image is resized up to the crop');
    await new Promise((r) => setImmediate(r));
    t.deepEqual((await ds.nextAsync()).shape, [2, 1, 16, 16], 'the prepared batch is handed over');
    await ds.nextAsync();
    ds.dispose(); // the prefetch scheduled by nextAsync must not run on disposed images
    await new Promise((r) => setImmediate(r));
    t.pass('disposing with a prefetch pending is safe');
    t.throws(() => new inv.ImageDataset([inv.ones([1, 1, 4, 4])], { crop: 8, batch: 1, resize: false }), /smaller than the crop 8 \(resize is off\)/);
    t.throws(() => new inv.ImageDataset([inv.ones([1, 1, 8, 8]), inv.ones([1, 3, 8, 8])], { crop: 4, batch: 1 }), /image 1 has shape \[1,3,8,8\]; expected 1×1×H×W/);
    t.throws(() => new inv.ImageDataset([], { crop: 4, batch: 1 }), /no images/);
    t.throws(() => new inv.ImageDataset([inv.ones([1, 1, 8, 8])], { crop: 0, batch: 1 }), /'crop' must be a positive integer/);
  });
  fs.rmSync(dir, { recursive: true });
});

test('ImageDataset.deadLeaves equals a dataset of the same images built by hand, and frees its drafts', (t) => {
  const before = inv.memory().tensors;
  const made = inv.ImageDataset.deadLeaves({ count: 3, size: 40, imageSeed: 7, crop: 16, batch: 2, seed: 1 });
  t.equal(inv.memory().tensors - before, 3, 'it holds its three images; the generated drafts are freed');
  t.equal(made.size, 3, 'count images');
  const byHand = new inv.ImageDataset([7, 8, 9].map((seed) => inv.deadLeaves({ count: 1, size: 40, seed })), { crop: 16, batch: 2, seed: 1 });
  for (let i = 0; i < 3; i++) {
    const [a, b] = [made.next(), byHand.next()];
    t.equal(a.sub(b).abs().max().item(), 0, `batch ${i} is the same`);
  }
  made.dispose();
  t.end();
});
