// SSIM with the standard Gaussian window (Wang et al. 2004; scikit-image's gaussian_weights=True): an 11×11
// window of σ 1.5, K1 0.01, K2 0.03, population (co)variances, averaged over the image after dropping the
// 5-pixel border. Cropping that border means no padding mode enters: a valid convolution is exact. Images
// in [-1, 1] are compared as 8-bit values (range 255), as papers report it, unless dataRange is given.
import { noGrad } from '../autograd';
import { conv2d, tensor } from '../generated/ops';
import { scope, type Tensor } from '../tensor';
import { checkPair } from './pair';

export interface SsimOptions {
  /** Compare raw values with this range instead of quantising [-1, 1] to 8 bits. */
  dataRange?: number;
}

const RADIUS = 5; // int(3.5·σ + 0.5) for scikit-image's truncate 3.5 and σ 1.5
const SIGMA = 1.5;

function window1d(): number[] {
  const w = Array.from({ length: 2 * RADIUS + 1 }, (_, i) => Math.exp(-((i - RADIUS) ** 2) / (2 * SIGMA * SIGMA)));
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / sum);
}

/** Per-image SSIM (N×C×H×W inputs, H and W at least 11), averaged over channels. */
export function ssimPerImage(x: Tensor, ref: Tensor, opts: SsimOptions = {}): number[] {
  checkPair('ssim', x, ref);
  if (x.ndim !== 4 || x.shape[2] < 2 * RADIUS + 1 || x.shape[3] < 2 * RADIUS + 1) {
    throw new RangeError(`ssim: expected N×C×H×W images with H, W >= ${2 * RADIUS + 1}, got shape [${x.shape}]`);
  }
  return noGrad(() =>
    scope(() => {
      const [n, c] = x.shape;
      const to = (t: Tensor) => (opts.dataRange ? t : t.add(1).mul(127.5).clamp({ min: 0, max: 255 }).round()).to({ dtype: 'float64' });
      const range = opts.dataRange ?? 255;
      const a = to(x);
      const b = to(ref);
      const w1 = window1d();
      const kernel = tensor(w1.flatMap((u) => w1.map((v) => u * v)), [1, 1, 2 * RADIUS + 1, 2 * RADIUS + 1], { dtype: 'float64' }).repeat([c, 1, 1, 1]);
      const blur = (t: Tensor) => conv2d(t, kernel, { groups: c }); // valid: the border is dropped anyway
      const ux = blur(a);
      const uy = blur(b);
      const vx = blur(a.mul(a)).sub(ux.square());
      const vy = blur(b.mul(b)).sub(uy.square());
      const vxy = blur(a.mul(b)).sub(ux.mul(uy));
      const c1 = (0.01 * range) ** 2;
      const c2 = (0.03 * range) ** 2;
      const s = ux.mul(uy).mul(2).add(c1).mul(vxy.mul(2).add(c2)).div(ux.square().add(uy.square()).add(c1).mul(vx.add(vy).add(c2)));
      return Array.from(s.reshape([n, -1]).mean({ dim: 1 }).toFloat64Array());
    }),
  );
}

/** Mean SSIM over the batch. */
export function ssim(x: Tensor, ref: Tensor, opts: SsimOptions = {}): number {
  const values = ssimPerImage(x, ref, opts);
  return values.reduce((p, q) => p + q, 0) / values.length;
}
