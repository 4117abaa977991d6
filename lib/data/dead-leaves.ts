// Dead-leaves images: occluding disks with power-law radii, a standard synthetic stand-in for natural-image
// statistics (scale invariance, sharp edges). Lets the demo and tests run on data the project makes itself.
import { tensor } from '../generated/ops';
import type { Tensor } from '../tensor';

/** A seeded uniform generator in [0, 1) whose whole state is one 32-bit number (readable and settable). */
export interface SeededRandom {
  (): number;
  state: number;
}

/** A small seeded PRNG (mulberry32): the same seed gives the same images on every machine. */
export function mulberry32(seed: number): SeededRandom {
  const next = (() => {
    next.state = (next.state + 0x6d2b79f5) >>> 0;
    let t = next.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }) as SeededRandom;
  next.state = seed >>> 0;
  return next;
}

export interface DeadLeavesOptions {
  count: number;
  size: number;
  seed?: number;
  /** Radii follow p(r) ∝ r^-3 between these bounds, in pixels. */
  minRadius?: number;
  maxRadius?: number;
}

/** count×1×size×size grayscale images in [-1, 1]. */
export function deadLeaves({ count, size, seed = 0, minRadius = 1, maxRadius = size / 3 }: DeadLeavesOptions): Tensor {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`deadLeaves: 'count' must be a positive integer, got ${count}`);
  if (!Number.isInteger(size) || size < 4) throw new RangeError(`deadLeaves: 'size' must be an integer >= 4, got ${size}`);
  const random = mulberry32(seed);
  const data = new Float32Array(count * size * size);
  for (let n = 0; n < count; n++) {
    const img = data.subarray(n * size * size, (n + 1) * size * size);
    const covered = new Uint8Array(size * size);
    let left = size * size;
    // Disks fall front to back; a pixel keeps the first disk that covers it.
    for (let disk = 0; disk < 5000 && left > 0; disk++) {
      const u = random();
      const r = 1 / Math.sqrt((1 - u) / minRadius ** 2 + u / maxRadius ** 2); // inverse CDF of r^-3
      const cx = random() * size;
      const cy = random() * size;
      const value = random() * 2 - 1;
      for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(size, Math.ceil(cy + r)); y++) {
        for (let x = Math.max(0, Math.floor(cx - r)); x < Math.min(size, Math.ceil(cx + r)); x++) {
          const i = y * size + x;
          if (!covered[i] && (x - cx) ** 2 + (y - cy) ** 2 <= r * r) {
            covered[i] = 1;
            img[i] = value;
            left--;
          }
        }
      }
    }
  }
  return tensor(data, [count, 1, size, size]);
}
