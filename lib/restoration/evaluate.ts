// Evaluation over methods × operators × images: per operator an A⁺y row, then a row per method, each with
// PSNR and SSIM per image and on average, and the seconds per image the method took.
import { psnrPerImage } from '../metrics/psnr';
import { ssimPerImage } from '../metrics/ssim';
import type { OperatorSpec } from '../operators/operator';
import { checkOptions, type Tensor } from '../tensor';
import { asRestorer, Method, restoreImages, warnIfUntrained } from './restore-images';

export interface NamedImage {
  name: string;
  /** 1×C×H×W in [-1, 1]. */
  image: Tensor;
}

export interface Score {
  name: string;
  psnr: number;
  ssim: number;
}

export interface EvaluationRow {
  operator: OperatorSpec;
  /** The method's label, or 'A⁺y' for the baseline. */
  method: string;
  /** Means over the images. */
  psnr: number;
  ssim: number;
  /** Seconds per image spent in the method (0 for A⁺y). */
  secondsPerImage: number;
  images: Score[];
  /** With keepImages: the results, one tensor per input (the batch, or each named image); the caller disposes them. */
  restored?: Tensor[];
}

export interface EvaluationOptions {
  methods: Method[];
  operators: OperatorSpec[];
  /** One batch of images of one size, or named images of any sizes. */
  images: Tensor | NamedImage[];
  /** Image i is measured (and sampled) with seed + i (default 0). */
  seed?: number;
  keepImages?: boolean;
  /** Before each input (the batch, or one named image) is restored. */
  onProgress?: (p: { method: string; operator: OperatorSpec; index: number; count: number }) => void;
  /** As each row is done. */
  onRow?: (row: EvaluationRow) => void;
  /** Receives one warning per method and operator outside the method's training (default: process.emitWarning). */
  onWarning?: (message: string) => void;
  silent?: boolean;
}
const EVALUATION_OPTIONS = ['methods', 'operators', 'images', 'seed', 'keepImages', 'onProgress', 'onRow', 'onWarning', 'silent'];

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

// Restoration runs per input, so images of different sizes each get their own operator and padding.
interface Input {
  names: string[];
  images: Tensor;
  /** The index of its first image, which fixes its seeds. */
  first: number;
}

function inputs(images: Tensor | NamedImage[]): Input[] {
  if (!Array.isArray(images)) {
    if (images.ndim !== 4) throw new RangeError(`evaluate: 'images' must be N×C×H×W or a list of named images, got [${images.shape}]`);
    return [{ names: Array.from({ length: images.shape[0] }, (_, i) => `image ${i + 1}`), images, first: 0 }];
  }
  if (!images.length) throw new RangeError(`evaluate: 'images' is empty`);
  return images.map(({ name, image }, i) => ({ names: [name], images: image, first: i }));
}

function score(x: Tensor, input: Input): Score[] {
  const psnr = psnrPerImage(x, input.images);
  const ssim = ssimPerImage(x, input.images);
  return input.names.map((name, i) => ({ name, psnr: psnr[i], ssim: ssim[i] }));
}

export function evaluate(o: EvaluationOptions): EvaluationRow[] {
  checkOptions('evaluate', o, EVALUATION_OPTIONS);
  if (!o.methods.length) throw new RangeError(`evaluate: 'methods' is empty`);
  if (!o.operators.length) throw new RangeError(`evaluate: 'operators' is empty`);
  const list = inputs(o.images);
  const count = list.reduce((n, input) => n + input.names.length, 0);
  const seed = o.seed ?? 0;
  const rows: EvaluationRow[] = [];
  const add = (row: EvaluationRow) => {
    rows.push(row);
    o.onRow?.(row);
  };
  for (const operator of o.operators) {
    for (const [m, method] of o.methods.map(asRestorer).entries()) {
      warnIfUntrained(method, operator, o);
      const scores: Score[] = [];
      const baselines: Score[] = [];
      const restored: Tensor[] = [];
      const baseline: Tensor[] = [];
      let seconds = 0;
      for (const [index, input] of list.entries()) {
        o.onProgress?.({ method: method.label, operator, index, count: list.length });
        const r = restoreImages(method, input.images, operator, { seed: seed + input.first, silent: true });
        seconds += r.seconds;
        scores.push(...score(r.restored, input));
        if (m === 0) baselines.push(...score(r.baseline, input));
        // Without keepImages each result goes at once, so a large test set never lives in memory whole.
        if (o.keepImages) restored.push(r.restored);
        else r.restored.dispose();
        if (o.keepImages && m === 0) baseline.push(r.baseline);
        else r.baseline.dispose();
      }
      const row = (label: string, per: Score[], s: number, tensors: Tensor[]): EvaluationRow => ({
        operator, method: label, psnr: mean(per.map((r) => r.psnr)), ssim: mean(per.map((r) => r.ssim)), secondsPerImage: s, images: per,
        ...(o.keepImages ? { restored: tensors } : {}),
      });
      // Every method sees the same A⁺y when the padding agrees; the table shows the first method's.
      if (m === 0) add(row('A⁺y', baselines, 0, baseline));
      add(row(method.label, scores, seconds / count, restored));
    }
  }
  return rows;
}
