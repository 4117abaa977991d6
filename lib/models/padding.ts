// Models that halve the resolution k times need H and W divisible by 2^k: pad by reflection, crop back.
import type { Tensor } from '../tensor';

export interface Padded {
  /** The images padded at the bottom and right. */
  padded: Tensor;
  /** Crops a result of the padded size back to the original H×W (a new contiguous tensor). */
  crop: (t: Tensor) => Tensor;
}

export function padToMultiple(images: Tensor, multiple: number): Padded {
  const [h, w] = images.shape.slice(-2);
  const ph = (multiple - (h % multiple)) % multiple;
  const pw = (multiple - (w % multiple)) % multiple;
  return {
    padded: ph || pw ? images.pad([0, pw, 0, ph], { mode: 'reflect' }) : images,
    crop: (t) => t.narrow(2, 0, h).narrow(3, 0, w).contiguous(),
  };
}
