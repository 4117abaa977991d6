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
