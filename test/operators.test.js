'use strict';
// Properties every operator family must have, over operators.names(): a family registered without a
// configuration here is still tested with its defaults.
const test = require('tape');
const inv = require('..');

const IMAGE = [2, 16, 16];
const variants = {
  inpainting: [{ keep: 0.5 }, { keep: 0.3, patchSize: 4 }, { randomPatches: true }],
  boxInpainting: [{ boxSize: [6, 5] }],
  outpainting: [{ visibleSize: [8, 6] }],
  blur: [{ sigma: 1.5 }, { kernel: 'motion', kernelSize: 7, intensity: 0.8 }],
  stridedBlur: [{ stride: 2 }, { stride: 2, pinv: 'cg', cgIterations: 3000 }],
  superResolution: [{ factor: 2 }, { factor: 4 }, { factor: 2, downsample: 'bicubic' }],
  blockCS: [{ ratio: 0.3, blockSize: 8, imageShape: [1, 12, 12] }, { ratio: 0.5, blockSize: 8, scrambled: false }, { ratio: 0.1 }],
  matrix: [{ minRows: 5, maxRows: 20 }, { minRows: 5, maxRows: 20, pinv: 'cg' }],
  mri: [{ acceleration: 4 }, { acceleration: 8, lines: 'equispaced' }, { sampling: 'radial', spokes: 6 }],
  // 24 views keep the 16×16 problem well posed (condition ~3e2), so A⁺ can be checked exactly; sparse
  // views are ill-posed (12 views leave 21 singular values below 1e-6·max) and are checked below.
  ct: [{ views: 24, imageShape: [1, 16, 16], pinv: 'cg' }, { views: 24, imageShape: [1, 16, 16] }],
};
const RANDOMISED = new Set(['inpainting', 'boxInpainting', 'outpainting', 'blockCS', 'matrix', 'mri']);

function cases() {
  return inv.operators.names().flatMap((name) => (variants[name] || [{}]).map((opts) => ({ name, opts: { imageShape: IMAGE, ...opts } })));
}
const label = ({ name, opts }) => `${name} ${JSON.stringify(opts).replace(/"imageShape":\[[\d,]+\],?/, '')}`;

const dot = (a, b) => a.mul(b).sum({ dtype: 'float64' }).item();
const norm = (a) => a.norm().item();
const relative = (a, b) => { const d = norm(a.sub(b)); const s = norm(b); return s === 0 ? d : d / s; };

for (const dtype of ['float64', 'float32']) {
  const tol = dtype === 'float64' ? { adjoint: 1e-5, pinv: 1e-4, exact: 1e-10 } : { adjoint: 1e-4, pinv: 2e-3, exact: 1e-5 };
  test(`operator properties in ${dtype}`, (t) => {
    for (const c of cases()) {
      inv.scope(() => {
        const A = inv.operators.create(c.name, { ...c.opts, batch: 3, seed: 11 });
        const shape = [3, ...A.imageShape];
        const x = inv.randn(shape, { seed: 1, dtype });
        const y = inv.randn([3, ...A.measurementShape], { seed: 2, dtype });
        const Ax = A.forward(x);
        t.deepEqual(Ax.shape, [3, ...A.measurementShape], `${label(c)}: measurement shape`);
        // Adjointness
        const lhs = dot(Ax, y), rhs = dot(x, A.adjoint(y)), scale = norm(Ax) * norm(y);
        if (scale === 0) t.ok(lhs === 0 && rhs === 0, `${label(c)}: <Ax, y> = <x, Aᵀy> = 0`);
        else t.ok(Math.abs(lhs - rhs) / scale < tol.adjoint, `${label(c)}: adjoint mismatch ${(Math.abs(lhs - rhs) / scale).toExponential(1)}`);
        // Pseudo-inverse (Penrose conditions 1 and 2)
        const e1 = relative(A.forward(A.pinv(Ax)), Ax);
        const Py = A.pinv(y);
        const e2 = relative(A.pinv(A.forward(Py)), Py);
        if (A.pinvExact) {
          t.ok(e1 < tol.pinv && e2 < tol.pinv, `${label(c)}: A A⁺ A = A (${e1.toExponential(1)}), A⁺ A A⁺ = A⁺ (${e2.toExponential(1)}) [pinv: ${A.pinvMethod}]`);
        } else {
          // A fast approximation: report how far it is, and hold it to being a useful one.
          t.comment(`${label(c)}: approximate A⁺ (${A.pinvMethod}): ‖A A⁺ A x − A x‖/‖A x‖ = ${e1.toExponential(2)}, ‖A⁺ A A⁺ y − A⁺ y‖/‖A⁺ y‖ = ${e2.toExponential(2)}`);
          t.ok(e1 < 0.5, `${label(c)}: approximate A⁺ still recovers most of A x (${e1.toExponential(1)})`);
        }
        // Projection: consistent and idempotent
        const x0 = inv.randn(shape, { seed: 3, dtype });
        const y0 = A.forward(x0);
        const p = A.project(x, y0);
        t.ok(relative(p, x.add(A.pinv(y0.sub(A.forward(x))))) < tol.pinv, `${label(c)}: project(x, y) = x + A⁺(y − A x) (fused where the family can)`);
        if (A.pinvExact) {
          t.ok(relative(A.forward(p), y0) < tol.pinv, `${label(c)}: A project(x, y) = y`);
          t.ok(relative(A.project(p, y0), p) < tol.pinv, `${label(c)}: project is idempotent`);
        }
        // Autograd through A gives Aᵀ
        const xg = x.detach().requiresGrad_();
        A.forward(xg).mul(y).sum().backward();
        t.ok(relative(xg.grad, A.adjoint(y)) < tol.exact * 10, `${label(c)}: autograd through A equals Aᵀ`);
        // Batched = per-sample operators with seed + b
        for (let b = 0; b < 3; b++) {
          const single = inv.operators.create(c.name, { ...c.opts, batch: 1, seed: 11 + b });
          const xb = x.narrow(0, b, 1);
          t.ok(relative(single.forward(xb), Ax.narrow(0, b, 1)) <= tol.exact, `${label(c)}: batch element ${b} = the operator with seed ${11 + b}`);
          single.dispose();
        }
        // Stacks B×K×C×H×W share each element's parameters across K
        const stack = inv.stack([x, x.mul(-2)], { dim: 1 });
        const As = A.forward(stack);
        t.ok(relative(As.select(1, 1), Ax.mul(-2)) <= tol.exact, `${label(c)}: stacks apply per batch element`);
        t.ok(relative(A.pinv(As).select(1, 0), A.pinv(Ax)) <= tol.exact, `${label(c)}: pinv on stacks`);
        A.dispose();
      });
    }
    t.end();
  });
}

test('seeds: same seed, same operator; another seed, another one', (t) => {
  for (const c of cases()) {
    inv.scope(() => {
      const x = inv.randn([1, ...(c.opts.imageShape)], { seed: 4, dtype: 'float64' });
      const a = inv.operators.create(c.name, { ...c.opts, seed: 5 }).forward(x);
      const b = inv.operators.create(c.name, { ...c.opts, seed: 5 }).forward(x);
      t.ok(a.equal(b), `${label(c)}: reproducible`);
      const deterministic = c.opts.scrambled === false || c.opts.lines === 'equispaced';
      if ((RANDOMISED.has(c.name) && !deterministic) || c.opts.kernel === 'motion') {
        t.notOk(a.equal(inv.operators.create(c.name, { ...c.opts, seed: 6 }).forward(x)), `${label(c)}: seed 6 differs from seed 5`);
      }
    });
  }
  t.end();
});

test('measure adds seeded Gaussian noise of noiseStd', (t) => {
  inv.scope(() => {
    const A = inv.operators.create('inpainting', { imageShape: [1, 64, 64], keep: 1, noiseStd: 0.1 });
    const x = inv.zeros([8, 1, 64, 64]);
    const y = A.measure(x, { seed: 1 });
    const std = y.std().item();
    t.ok(Math.abs(std - 0.1) < 0.005, `noise std ${std.toFixed(4)} ≈ 0.1`);
    t.ok(y.equal(A.measure(x, { seed: 1 })) && !y.equal(A.measure(x, { seed: 2 })), 'seeded');
    t.ok(inv.operators.create('denoising', { imageShape: [1, 4, 4] }).measure(inv.ones([1, 1, 4, 4])).equal(inv.ones([1, 1, 4, 4])), 'no noise when noiseStd is 0');
  });
  t.end();
});

test('family facts: masks keep what they say, blockCS measures ceil(γN) per block, SR averages', (t) => {
  inv.scope(() => {
    const keep = inv.operators.create('inpainting', { imageShape: [1, 128, 128], keep: 0.3, seed: 1 }).forward(inv.ones([1, 1, 128, 128])).mean().item();
    t.ok(Math.abs(keep - 0.3) < 0.02, `inpainting keeps ${keep.toFixed(3)} of pixels`);
    const patches = inv.operators.create('inpainting', { imageShape: [1, 64, 64], randomPatches: true, batch: 16, seed: 3 });
    const kept = patches.forward(inv.ones([16, 1, 64, 64])).mean({ dim: [1, 2, 3] }).toFloat64Array();
    t.ok(kept.every((k) => k > 0), 'InvFussion patches: every sample sees at least one patch');
    // p ~ U(0, 0.1) keeps ~5% of small patches, but redrawing until one is visible keeps all of a 64² patch and at
    // least a quarter of 32² ones: averaged over u = 0..6 that is about 0.23.
    const mean = kept.reduce((a, b) => a + b, 0) / 16;
    t.ok(mean > 0.05 && mean < 0.4, `and keeps ${mean.toFixed(3)} of the image on average (≈ 0.23 expected)`);
    const box = inv.operators.create('boxInpainting', { imageShape: [1, 16, 16], boxSize: [4, 8] }).forward(inv.ones([1, 1, 16, 16]));
    t.equal(box.sum().item(), 256 - 32, 'a 4x8 box is hidden');
    const out = inv.operators.create('outpainting', { imageShape: [3, 16, 16], visibleSize: [5, 7] }).forward(inv.ones([1, 3, 16, 16]));
    t.equal(out.sum().item(), 3 * 35, 'a 5x7 rectangle stays visible in every channel');
    for (const [ratio, q] of [[0.1, 103], [0.3, 308], [0.5, 512], [0.01, 11], [0.04, 41], [0.25, 256]]) {
      const A = inv.operators.create('blockCS', { imageShape: [1, 32, 32], ratio });
      t.deepEqual(A.measurementShape, [1, q], `γ = ${ratio}: q = ${q} (papers.md §1.2)`);
      A.dispose();
    }
    const sr = inv.operators.create('superResolution', { imageShape: [1, 4, 4], factor: 2 });
    t.deepEqual(sr.forward(inv.arange(16).reshape([1, 1, 4, 4])).toArray(), [[[[2.5, 4.5], [10.5, 12.5]]]], 'average pooling');
    const x = inv.randn([2, 1, 8, 8], { seed: 1, dtype: 'float64' });
    const closed = inv.operators.create('matrix', { imageShape: [1, 8, 8], batch: 2, maxRows: 12 });
    const cg = inv.operators.create('matrix', { imageShape: [1, 8, 8], batch: 2, maxRows: 12, pinv: 'cg' });
    const y = closed.forward(x);
    t.ok(relative(cg.pinv(y), closed.pinv(y)) < 1e-8, `CG pinv equals the closed-form pinv (${relative(cg.pinv(y), closed.pinv(y)).toExponential(1)})`);
    const mri = inv.operators.create('mri', { imageShape: [1, 64, 64], acceleration: 4, seed: 2 });
    const sampled = mri.forward(inv.ones([1, 1, 64, 64])).abs().gt(0).sum().item(); // only DC is non-zero for a constant image
    t.equal(sampled, 1, 'a constant image has only a DC coefficient');
    const fraction = mri.adjoint(inv.ones([1, 2, 64, 64])).shape;
    t.deepEqual(fraction, [1, 1, 64, 64], 'mri adjoint returns images');
    const rows = inv.operators.create('mri', { imageShape: [1, 64, 64], acceleration: 4, seed: 2 });
    const kspace = rows.forward(inv.randn([1, 1, 64, 64], { seed: 9 })).abs().sum({ dim: [0, 1, 3] }).gt(0).sum().item();
    t.ok(Math.abs(kspace - 16) <= 2, `about 64 / 4 phase-encode rows sampled (${kspace})`);
    const xm = inv.randn([1, 1, 64, 64], { seed: 5, dtype: 'float64' });
    t.ok(relative(inv.operators.create('mri', { imageShape: [1, 64, 64], acceleration: 1, centreFraction: 1 }).pinv(
      inv.operators.create('mri', { imageShape: [1, 64, 64], acceleration: 1, centreFraction: 1 }).forward(xm)), xm) < 1e-12, 'full sampling inverts exactly');
    const given = inv.operators.create('inpainting', { imageShape: [1, 2, 2], mask: inv.tensor([1, 0, 0, 1], [2, 2]) });
    t.deepEqual(given.forward(inv.full([1, 1, 2, 2], 5)).toArray(), [[[[5, 0], [0, 5]]]], 'a mask given as a tensor');
    t.throws(() => inv.operators.create('inpainting', { imageShape: [1, 2, 2], mask: inv.zeros([2, 2]) }), /option 'mask' is empty/, 'an empty mask is refused');
    t.throws(() => inv.operators.create('mri', { imageShape: [1, 4, 4], mask: inv.ones([3, 3]) }), /option 'mask' must be H×W or B×H×W with H×W = 4×4/);
    const asym = inv.operators.create('mri', { imageShape: [1, 4, 4], mask: inv.tensor([1, 1, 0, 0], [4, 1]).expand([4, 4]) });
    t.match(asym.pinvMethod, /conjugate gradients/, 'a mask that is not conjugate-symmetric gets A⁺ by CG');
    const phantom = inv.sheppLogan(64);
    t.deepEqual([phantom.shape, phantom.max().item(), phantom.min().item()], [[1, 1, 64, 64], 1, 0], 'Shepp–Logan phantom in [0, 1]');
    const ctOp = inv.operators.create('ct', { imageShape: [1, 64, 64], views: 60, pinv: 'closed' });
    const sino = ctOp.forward(phantom);
    t.deepEqual(sino.shape, [1, 1, 60, 91], 'sinogram: views × detectors');
    const fbp = ctOp.pinv(sino);
    const fbpError = relative(fbp, phantom);
    t.ok(fbpError < 0.4, `filtered back-projection approximates the phantom (relative error ${fbpError.toFixed(3)})`);
    const ctCG = inv.operators.create('ct', { imageShape: [1, 64, 64], views: 60, pinv: 'cg', cgIterations: 50 });
    const refined = ctCG.pinv(sino);
    const consistency = (img) => relative(ctOp.forward(img), sino);
    t.ok(consistency(refined) < consistency(fbp) / 5, `CG from FBP fits the sinogram better (${consistency(fbp).toExponential(1)} → ${consistency(refined).toExponential(1)})`);
    const blur = inv.operators.create('blur', { imageShape: [1, 9, 9], sigma: 1 });
    const impulse = inv.zeros([1, 1, 9, 9]);
    const centre = inv.where(inv.arange(81).reshape([1, 1, 9, 9]).eq(40), 1, impulse);
    const psf = blur.forward(centre);
    t.equal(psf.argmax().item(), 40, 'the blur does not shift the image');
    t.ok(Math.abs(psf.sum().item() - 1) < 1e-6, 'the blur preserves the mean');
  });
  t.end();
});

test('bad operator input gives clear errors', (t) => {
  const bad = [
    [() => inv.operators.create('fog', { imageShape: [1, 8, 8] }), /operator family 'fog' is unknown; known families: none, denoising/],
    [() => inv.operators.create('blur', {}), /option 'imageShape' is required/],
    [() => inv.operators.create('blur', { imageShape: [8, 8] }), /'imageShape' must be \[C, H, W\]/],
    [() => inv.operators.create('blockCS', { imageShape: [1, 32, 32], ratio: 1.5 }), /option 'ratio' \(the sampling ratio γ\) must lie in \(0, 1\]/],
    [() => inv.operators.create('blockCS', { imageShape: [1, 32, 32], ratio: 0 }), /'ratio'/],
    [() => inv.operators.create('inpainting', { imageShape: [1, 8, 8], keep: 0 }), /option 'keep' .* must lie in \(0, 1\]/],
    [() => inv.operators.create('denoising', { imageShape: [1, 8, 8], noiseStd: -1 }), /option 'noiseStd' must be a finite number >= 0/],
    [() => inv.operators.create('superResolution', { imageShape: [1, 9, 9], factor: 2 }), /divisible by the factor 2/],
    [() => inv.operators.create('superResolution', { imageShape: [1, 8, 8], factor: 5 }), /'factor' must be 2, 3, 4 or 8/],
    [() => inv.operators.create('blur', { imageShape: [1, 8, 8], kernel: 'box' }), /'kernel' must be 'gaussian' or 'motion'/],
    [() => inv.operators.create('boxInpainting', { imageShape: [1, 8, 8], boxSize: [9, 2] }), /'boxSize' must be \[h, w\]/],
    [() => inv.operators.create('matrix', { imageShape: [1, 4, 4], maxRows: 40 }), /maxRows <= C·H·W \(16\)/],
    [() => inv.operators.create('inpainting', 'x'), /argument 'options' expected an object/],
  ];
  for (const [call, pattern] of bad) t.throws(call, pattern, String(pattern));
  inv.scope(() => {
    const A = inv.operators.create('inpainting', { imageShape: [1, 8, 8], batch: 2 });
    t.throws(() => A.forward(inv.ones([1, 1, 8, 9])), /built for images \[1, 8, 8\], got \[1, 8, 9\] \(option 'imageShape'\)/);
    t.throws(() => A.forward(inv.ones([3, 1, 8, 8])), /a batch of 2, got 3 images \(option 'batch'\)/);
    t.throws(() => A.forward(inv.ones([8, 8])), /expected images N×C×H×W or stacks B×K×C×H×W/);
    t.throws(() => A.adjoint(inv.ones([2, 1, 8, 7])), /measures \[1, 8, 8\] per image, got \[1, 8, 7\]/);
    t.throws(() => A.forward('image'), /argument 'x' expected a Tensor, got the string 'image'/);
    const B = inv.operators.create('blockCS', { imageShape: [1, 32, 32] });
    t.throws(() => B.forward(inv.ones([1, 1, 32, 32], { dtype: 'int32' })), /floating-point image/);
    A.dispose();
    t.throws(() => A.forward(inv.ones([2, 1, 8, 8])), /argument 'op' expected a live Operator, got a disposed one/);
  });
  t.end();
});

test('operators run off the event loop too', async (t) => {
  await inv.scopeAsync(async () => {
    const A = inv.operators.create('matrix', { imageShape: [1, 16, 16], batch: 2, seed: 3 });
    const x = inv.randn([2, 1, 16, 16], { seed: 1 });
    t.ok((await A.forwardAsync(x)).equal(A.forward(x)), 'forwardAsync');
    const y = A.forward(x);
    t.ok((await A.pinvAsync(y)).equal(A.pinv(y)), 'pinvAsync');
    t.ok((await A.projectAsync(x, y)).equal(A.project(x, y)), 'projectAsync');
  });
});
