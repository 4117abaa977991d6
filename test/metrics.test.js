'use strict';
// PSNR and SSIM checked against independent computations written with plain loops.
const test = require('tape');
const inv = require('..');

// SSIM as scikit-image defines it with gaussian_weights=True, written directly: per pixel of the cropped
// interior, Gaussian-weighted means, variances and covariance over the 11×11 neighbourhood.
function ssimByLoops(a, b, h, w, range) {
  const r = 5, s = 1.5;
  const g = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * s * s)));
  const gs = g.reduce((p, q) => p + q, 0);
  const c1 = (0.01 * range) ** 2, c2 = (0.03 * range) ** 2;
  let total = 0, count = 0;
  for (let y = r; y < h - r; y++) {
    for (let x = r; x < w - r; x++) {
      let ux = 0, uy = 0, uxx = 0, uyy = 0, uxy = 0;
      for (let dy = -r; dy <= r; dy++) {
        for (let dx = -r; dx <= r; dx++) {
          const wt = (g[dy + r] / gs) * (g[dx + r] / gs);
          const p = a[(y + dy) * w + x + dx], q = b[(y + dy) * w + x + dx];
          ux += wt * p; uy += wt * q; uxx += wt * p * p; uyy += wt * q * q; uxy += wt * p * q;
        }
      }
      const vx = uxx - ux * ux, vy = uyy - uy * uy, vxy = uxy - ux * uy;
      total += ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2));
      count++;
    }
  }
  return total / count;
}

test('SSIM matches a direct computation of the standard definition', (t) => {
  inv.scope(() => {
    const x = inv.deadLeaves({ count: 2, size: 24, seed: 1 });
    const noisy = x.add(inv.randn(x.shape, { seed: 2 }).mul(0.2)).clamp({ min: -1, max: 1 });
    const values = inv.metrics.ssimPerImage(noisy, x);
    const to8 = (t8) => Array.from(t8.add(1).mul(127.5).clamp({ min: 0, max: 255 }).round().toFloat64Array());
    const a = to8(noisy), b = to8(x);
    for (let i = 0; i < 2; i++) {
      const expected = ssimByLoops(a.slice(i * 576, (i + 1) * 576), b.slice(i * 576, (i + 1) * 576), 24, 24, 255);
      t.ok(Math.abs(values[i] - expected) < 1e-9, `image ${i}: SSIM ${values[i].toFixed(6)} = ${expected.toFixed(6)} by loops`);
    }
    t.equal(inv.metrics.ssim(x, x), 1, 'identical images give 1');
    t.ok(inv.metrics.ssim(noisy, x) < inv.metrics.ssim(x.add(inv.randn(x.shape, { seed: 3 }).mul(0.05)).clamp({ min: -1, max: 1 }), x), 'more noise, lower SSIM');
    const raw = inv.metrics.ssim(noisy, x, { dataRange: 2 });
    const rawExpected = ssimByLoops(Array.from(noisy.toFloat64Array()).slice(0, 576), Array.from(x.toFloat64Array()).slice(0, 576), 24, 24, 2);
    t.ok(Math.abs(inv.metrics.ssimPerImage(noisy, x, { dataRange: 2 })[0] - rawExpected) < 1e-9, `dataRange compares raw values (${raw.toFixed(4)})`);
    t.throws(() => inv.metrics.ssim(inv.ones([1, 1, 8, 8]), inv.ones([1, 1, 8, 8])), /H, W >= 11/);
    t.throws(() => inv.metrics.ssim(inv.ones([1, 1, 16, 16]), inv.ones([1, 1, 16, 17])), /'x' has shape/);
  });
  t.end();
});

test('PSNR on 8-bit values matches a direct computation', (t) => {
  inv.scope(() => {
    const x = inv.deadLeaves({ count: 1, size: 16, seed: 4 });
    const y = x.add(inv.randn(x.shape, { seed: 5 }).mul(0.1));
    const to8 = (t8) => Array.from(t8.add(1).mul(127.5).clamp({ min: 0, max: 255 }).round().toFloat64Array());
    const a = to8(y), b = to8(x);
    const mse = a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0) / a.length;
    const expected = 10 * Math.log10((255 * 255) / mse);
    t.ok(Math.abs(inv.metrics.psnr(y, x) - expected) < 1e-9, `PSNR ${inv.metrics.psnr(y, x).toFixed(4)} dB = ${expected.toFixed(4)} by hand`);
    t.equal(inv.metrics.psnr(x, x), Infinity, 'identical images: infinite PSNR');
    t.throws(() => inv.metrics.psnr(x, inv.ones([1, 1, 16, 15])), /'x' has shape/);
  });
  t.end();
});

// scikit-image 0.19.3 (Debian python3-skimage), structural_similarity(distorted, original,
// gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255), from
// test/fixtures/ssim-skimage.py. With the default sample covariance the values differ by up to 7e-4, under
// the 0.001 tolerance, so the tight check below is what pins the population covariance.
const SKIMAGE_SSIM = {
  'barbara.tif': { pattern: 0.55519087, blur: 0.93138019 },
  'boats.tif': { pattern: 0.51081745, blur: 0.94471457 },
  'cameraman.tif': { pattern: 0.44014723, blur: 0.95529682 },
};

test('SSIM matches scikit-image on Set11', async (t) => {
  const fs = require('fs');
  const path = require('path');
  const dir = path.join(__dirname, '..', '..', 'shared', 'data', 'Set11');
  if (!fs.existsSync(dir)) {
    t.comment(`no ${dir}: the shared data sets are not beside this checkout`);
    return;
  }
  // The same integer distortions as the fixture script, on 8-bit values.
  const distortions = {
    pattern: (x, i, j, w) => Math.min(255, Math.max(0, x[i * w + j] + ((i * 37 + j * 91) % 61) - 30)),
    blur: (x, i, j, w) => Math.floor((x[i * w + Math.max(j - 1, 0)] + 2 * x[i * w + j] + x[i * w + Math.min(j + 1, w - 1)]) / 4),
  };
  await inv.scopeAsync(async () => {
    for (const [name, expected] of Object.entries(SKIMAGE_SSIM)) {
      const original = await inv.io.readImage(path.join(dir, name), { grayscale: true });
      const [, , h, w] = original.shape;
      const x8 = Array.from(original.toFloat64Array(), (v) => Math.round((v + 1) * 127.5));
      for (const [kind, f] of Object.entries(distortions)) {
        const d = new Float32Array(h * w);
        for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) d[i * w + j] = f(x8, i, j, w) / 127.5 - 1;
        const ours = inv.scope(() => inv.metrics.ssim(inv.tensor(d, [1, 1, h, w]), original));
        const diff = Math.abs(ours - expected[kind]);
        t.ok(diff < 1e-3, `${name} ${kind}: ours ${ours.toFixed(8)}, scikit-image ${expected[kind].toFixed(8)}`);
        t.ok(diff < 1e-6, `${name} ${kind}: difference ${diff.toExponential(2)} (rounding of the constants only)`);
      }
    }
  });
});
