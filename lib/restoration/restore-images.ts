// Restoring whole images with any method. Images are measured one at a time with a fresh operator instance
// (image i with seed + i), padded to the method's size multiple and cropped back.
import { noGrad } from '../autograd';
import { cat } from '../generated/ops';
import { IDM } from '../models/idm';
import { padToMultiple } from '../models/padding';
import { fromSpec, Operator, OperatorSpec } from '../operators/operator';
import { untrainedOperator } from '../models/card';
import { checkOptions, keep, scope, scopeAsync, type Tensor } from '../tensor';
import { idmRestorer, Restorer } from './methods';

export interface Restored {
  restored: Tensor;
  /** A⁺y, the baseline every method is compared with. */
  baseline: Tensor;
  /** Seconds spent in the method itself (measuring and A⁺y excluded). */
  seconds: number;
}

/** A Restorer, or an IDM, which is its own method. */
export type Method = Restorer | IDM;

export function asRestorer(method: Method): Restorer {
  return method instanceof IDM ? idmRestorer(method) : method;
}

export interface RestoreOptions {
  /** Image i is measured (and sampled) with seed + i (default 0). */
  seed?: number;
  /** Receives the warning when the method's model was not trained for the operator (default: process.emitWarning). */
  onWarning?: (message: string) => void;
  /** No warning at all. */
  silent?: boolean;
}
const RESTORE_OPTIONS = ['seed', 'onWarning', 'silent'];

/** One warning, through the caller's hook, when `restorer`'s model was not trained for `spec`. */
export function warnIfUntrained(restorer: Restorer, spec: OperatorSpec, opts: Omit<RestoreOptions, 'seed'>): void {
  const why = opts.silent ? undefined : untrainedOperator(restorer.trainedFor ?? [], spec, restorer.label);
  if (why) (opts.onWarning ?? ((m: string) => process.emitWarning(m, 'InvdiffWarning')))(why);
}

/** Measures each image (with noise if the spec sets noiseStd) and restores it; returns N×C×H×W results. */
export function restoreImages(method: Method, images: Tensor, operator: OperatorSpec, opts: RestoreOptions = {}): Restored {
  const restorer = asRestorer(method);
  warnIfUntrained(restorer, operator, checkOptions('restoreImages', opts, RESTORE_OPTIONS));
  const parts = new Parts(images);
  noGrad(() => {
    for (let i = 0; i < images.shape[0]; i++) scope(() => parts.restore(restorer, operator, i, opts.seed ?? 0, (A, y, seed) => restorer.restore(A, y, seed)));
  });
  return parts.join();
}

/** restoreImages with each restoration off the event loop. */
export async function restoreImagesAsync(method: Method, images: Tensor, operator: OperatorSpec, opts: RestoreOptions = {}): Promise<Restored> {
  const restorer = asRestorer(method);
  warnIfUntrained(restorer, operator, checkOptions('restoreImagesAsync', opts, RESTORE_OPTIONS));
  const parts = new Parts(images);
  for (let i = 0; i < images.shape[0]; i++)
    await scopeAsync(async () => noGrad(() => parts.restore(restorer, operator, i, opts.seed ?? 0, (A, y, seed) => restorer.restoreAsync(A, y, seed))));
  return parts.join();
}

// A⁺y of the image as it is, so the baseline does not depend on the padding a method needs (every row of
// an evaluation then shows the same A⁺y); undefined where the family needs the padded size (a factor, a block).
function unpaddedBaseline(spec: OperatorSpec, x: Tensor, seed: number): Tensor | undefined {
  let A: Operator;
  try {
    A = fromSpec(spec, x.shape.slice(1), { seed });
  } catch {
    return undefined;
  }
  try {
    return A.pinv(A.measure(x, { seed }));
  } finally {
    A.dispose();
  }
}

// What both share per image: pad, measure with a fresh operator, time the restoration, crop; then join.
class Parts {
  private readonly restored: Tensor[] = [];
  private readonly baseline: Tensor[] = [];
  private seconds = 0;
  constructor(private readonly images: Tensor) {
    if (images.ndim !== 4) throw new RangeError(`restoreImages: 'images' must be N×C×H×W, got [${images.shape}]`);
  }
  restore(method: Restorer, spec: OperatorSpec, i: number, seed: number, run: (A: Operator, y: Tensor, seed: number) => Tensor | Promise<Tensor>): void | Promise<void> {
    const image = this.images.narrow(0, i, 1);
    const [, channels, h, w] = image.shape;
    const modelChannels = method.imageChannels ?? channels;
    // A grey model restores a colour image channel by channel: the channels as a batch of three, measured by
    // one operator (the same mask, matrix or kernel on each, as a colour camera would apply it).
    const perChannel = modelChannels === 1 && channels > 1;
    if (!perChannel && modelChannels !== channels) throw new RangeError(`restoreImages: ${method.label} restores ${modelChannels}-channel images, got ${channels} channel${channels === 1 ? '' : 's'}`);
    const asBatch = (t: Tensor) => (perChannel ? t.reshape([channels, 1, h, w]) : t);
    const back = (t: Tensor) => (perChannel ? t.reshape([1, channels, h, w]) : t);
    const base = asBatch(image);
    const dtype = method.dtype ?? 'float32';
    const { padded, crop } = padToMultiple(base, method.sizeMultiple);
    const x = padded.to({ dtype });
    const A = fromSpec(spec, x.shape.slice(1), { seed: seed + i });
    let out: Tensor | Promise<Tensor>;
    let started = 0;
    const done = (t: Tensor) => {
      this.seconds += (performance.now() - started) / 1000;
      const cropped = crop(t);
      const joined = back(cropped);
      this.restored.push(keep(joined));
      if (joined !== cropped) cropped.dispose(); // the async twin runs this outside any scope
      t.dispose(); // samplers hand over kept results; the crop holds what is needed
    };
    try {
      const y = A.measure(x, { seed: seed + i }); // A x plus the spec's noise, if any
      this.baseline.push(keep(back(crop(padded === base ? A.pinv(y) : unpaddedBaseline(spec, base.to({ dtype }), seed + i) ?? A.pinv(y)))));
      started = performance.now();
      out = run(A, y, seed + i);
    } catch (e) {
      A.dispose();
      throw e;
    }
    if (out instanceof Promise) return out.then(done).finally(() => A.dispose());
    A.dispose();
    done(out);
  }
  join(): Restored {
    const joined = { restored: cat(this.restored, { dim: 0 }), baseline: cat(this.baseline, { dim: 0 }), seconds: this.seconds };
    for (const t of [...this.restored, ...this.baseline]) t.dispose();
    return joined;
  }
}
