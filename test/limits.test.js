'use strict';
// Limits on the work one call may ask for, each refused at once with the argument named, while ordinary
// sizes still work; and a model that async calls are using cannot change its parameters under them.
const test = require('tape');
const inv = require('..');

const TINY_IDM = { channels: 8, groups: 4, heads: 2, multipliers: [1, 2], blocks: 1, attention: [false, true], steps: 2 };

test('operators refuse options that ask for more work than one operator may do, naming the option', (t) => {
  const refused = [
    [{ family: 'ct', imageShape: [1, 100000, 100000] }, /ct: option 'imageShape' asks for 1e\+10 values \(C·H·W per image\), more than the 268435456 one operator may hold/],
    [{ family: 'mri', imageShape: [1, 100000, 100000] }, /mri: option 'imageShape' asks for/],
    [{ family: 'ct', imageShape: [1, 8, 8], views: 1e9 }, /ct: option 'views' asks for .* ray points of the projection matrix/],
    [{ family: 'ct', imageShape: [1, 8, 8], detectors: 100000 }, /ct: option 'detectors' asks for .* ray points/],
    [{ family: 'blockCS', imageShape: [1, 64, 64], batch: 1e7 }, /blockCS: option 'batch' asks for .* per-element parameters/],
    [{ family: 'blockCS', imageShape: [1, 64, 64], blockSize: 10000 }, /blockCS: option 'blockSize' asks for 1e\+16 values/],
    [{ family: 'matrix', imageShape: [1, 64, 64], batch: 1000, maxRows: 4096 }, /matrix: option 'maxRows' asks for 1\.67772e\+10 values \(batch × maxRows × C·H·W matrix entries\)/],
    [{ family: 'mri', imageShape: [1, 64, 64], sampling: 'radial', spokes: 1e9 }, /mri: option 'spokes' asks for/],
    [{ family: 'inpainting', imageShape: [1, 64, 64], batch: 100000 }, /inpainting: option 'batch' asks for/],
  ];
  for (const [{ family, ...options }, message] of refused) t.throws(() => inv.operators.create(family, options), message, `${family} ${JSON.stringify(options)}: refused`);
  const before = inv.memory().tensors;
  for (const [family, options] of [['ct', { imageShape: [1, 32, 32], views: 90 }], ['blockCS', { imageShape: [1, 64, 64], batch: 8, blockSize: 32 }], ['mri', { imageShape: [1, 64, 64], sampling: 'radial' }], ['matrix', { imageShape: [1, 16, 16], batch: 4, maxRows: 64 }]]) {
    const A = inv.operators.create(family, options);
    t.ok(A.measurementShape.length > 0, `${family} ${JSON.stringify(options)}: still built`);
    A.dispose();
  }
  t.equal(inv.memory().tensors, before, 'nothing left behind');
  t.end();
});

test('pad, interpolate and repeat refuse outputs no machine could hold, naming the argument; setNumThreads checks its range', (t) => {
  inv.scope(() => {
    const x = inv.zeros([1, 1, 4, 4]);
    t.throws(() => x.pad([1e9, 1e9, 0, 0]), /argument 'pad' asks for \d+ GiB, more than this machine's memory/);
    t.throws(() => x.pad([1, 1, 1]), /argument 'pad' expected pairs \[left, right, top, bottom, \.\.\.\] for at most 4 dimensions, got 3 values/);
    t.throws(() => x.repeat([1e6, 1e6, 1, 1]), /argument 'repeats' asks for \d+ GiB/);
    t.throws(() => x.repeat([2, 2]), /argument 'repeats' needs at least one entry per dimension \(4\), got 2/);
    t.throws(() => inv.interpolate(x, { size: [1e6, 1e6] }), /argument 'size' asks for \d+ GiB/);
    t.throws(() => inv.interpolate(x, { scaleFactor: 1e9 }), /argument 'scaleFactor' asks for \d+ GiB/);
    t.throws(() => inv.interpolate(x, { scaleFactor: -2 }), /argument 'scaleFactor' expected a finite positive number, got -2/);
    t.deepEqual(x.pad([1, 2, 3, 4]).shape, [1, 1, 11, 7], 'ordinary padding still works');
    t.deepEqual(x.pad([-1, -1, 0, 0]).shape, [1, 1, 4, 2], 'and cropping by negative padding');
    t.deepEqual(x.repeat([2, 1, 1, 3, 1]).shape, [2, 1, 1, 12, 4], 'ordinary repeats still work');
    t.deepEqual(inv.interpolate(x, { scaleFactor: 2 }).shape, [1, 1, 8, 8], 'and ordinary resizing');
  });
  const threads = inv.backend().threads;
  t.throws(() => inv.setNumThreads(1e6), /argument 'n' expected a number of threads in \[1, 1024\], got 1000000/);
  t.throws(() => inv.setNumThreads(0), /argument 'n' expected a number of threads in \[1, 1024\], got 0/);
  inv.setNumThreads(2);
  t.equal(inv.backend().threads, 2, 'a number in range is set');
  inv.setNumThreads(threads);
  t.end();
});

test("a model that async calls are using refuses to() and loadStateDict() until they settle; their results are the model's", async (t) => {
  const idm = new inv.models.IDM(TINY_IDM);
  const A = inv.operators.create('inpainting', { imageShape: [1, 16, 16], seed: 1 });
  await inv.scopeAsync(async () => {
    const y = A.forward(inv.rand([1, 1, 16, 16], { seed: 2 }));
    const expected = idm.reconstruct(A, y);
    const running = [idm.reconstructAsync(A, y), idm.reconstructAsync(A, y)];
    t.throws(() => idm.to({ dtype: 'float64' }), /argument 'module' is in use by 2 async calls still running; to\(\) would change its parameters under them \(await them first\)/);
    t.throws(() => idm.loadStateDict(idm.namedParameters()), /in use by 2 async calls still running; loadStateDict\(\)/);
    const results = await Promise.all(running);
    for (const r of results) t.ok(r.equal(expected), 'each async result equals the sync one (float32 throughout)');
    idm.to({ dtype: 'float64' });
    t.equal(idm.dtype, 'float64', 'once they settled, to() works');
    // A call that fails still releases its use.
    await Promise.resolve()
      .then(() => idm.reconstructAsync(A, inv.zeros([3])))
      .catch(() => {});
    idm.to({ dtype: 'float32' });
    t.equal(idm.dtype, 'float32', 'and after a failed async call too');
  });
  A.dispose();
  idm.dispose();
});
