// PSNR as the restoration papers report it: images in [-1, 1] quantised to 8-bit values, per image, then
// averaged over the batch.
import { noGrad } from '../autograd';
import { scope, type Tensor } from '../tensor';
import { checkPair } from './pair';

export interface PsnrOptions {
  /** Compare raw values with this peak-to-peak range instead of quantising [-1, 1] to 8 bits. */
  dataRange?: number;
}

/** Per-image PSNR in dB (N×C×H×W inputs give N values). */
export function psnrPerImage(x: Tensor, ref: Tensor, opts: PsnrOptions = {}): number[] {
  checkPair('psnr', x, ref);
  if (x.ndim !== 4) throw new RangeError(`psnr: expected N×C×H×W images, got shape [${x.shape}]`);
  return noGrad(() =>
    scope(() => {
      const to = (t: Tensor) => (opts.dataRange ? t : t.add(1).mul(127.5).clamp({ min: 0, max: 255 }).round());
      const peak = opts.dataRange ?? 255;
      const mse = to(x).sub(to(ref)).square().mean({ dim: [1, 2, 3] }).toFloat64Array();
      return Array.from(mse, (m) => (m === 0 ? Infinity : 10 * Math.log10((peak * peak) / m)));
    }),
  );
}

/** Mean PSNR over the batch, in dB. */
export function psnr(x: Tensor, ref: Tensor, opts: PsnrOptions = {}): number {
  const values = psnrPerImage(x, ref, opts);
  return values.reduce((a, b) => a + b, 0) / values.length;
}
