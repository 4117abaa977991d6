// Training batches from a set of images: random crops, the 8 flips/rotations, a seeded shuffle per epoch,
// and the next batch prepared while the caller trains on the current one. Sharded for data-parallel
// training, it is a distributed sampler: every rank reads its own slice of one global sequence of samples.
import { cat, interpolate } from '../generated/ops';
import { readImageFolder, ReadImageOptions } from '../io/image';
import { keep, scope, type Tensor } from '../tensor';
import { deadLeaves, mulberry32, SeededRandom } from './dead-leaves';

export interface ImageDatasetOptions {
  /** Side of the square crops. */
  crop: number;
  batch: number;
  seed?: number;
  /** Apply one of the 8 flips/rotations to each crop. Default true. */
  augment?: boolean;
  /** Images whose shorter side is below the crop are resized up to it (bilinear). Default true. */
  resize?: boolean;
}

/** Where a dataset's sequence of batches stands, for checkpoints that resume bit for bit. */
export interface DatasetState {
  random: number;
  order: number[];
  cursor: number;
  epoch: number;
  /** Sharded datasets: the samples of the global sequence consumed so far (by all ranks together). */
  consumed?: number;
}

/** Which slice of the global batches a rank reads (see ImageDataset.shard). */
export interface DatasetShard {
  rank: number;
  worldSize: number;
}

// A 32-bit seed from two integers, so that sample g of the global sequence has a generator of its own.
function mix(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul((b % 2 ** 32) + 0x7f4a7c15, 0xc2b2ae35) ^ Math.floor(b / 2 ** 32);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  return (h ^ (h >>> 13)) >>> 0;
}

export class ImageDataset {
  private readonly images: Tensor[];
  private readonly random: SeededRandom;
  private preparedFrom?: DatasetState; // the state the prepared batch was drawn from
  private order: number[] = [];
  private cursor = 0;
  private prepared?: Tensor;
  private disposed = false;
  // Sharded: rank's local sample j is sample start + (⌊j/batch⌋·worldSize + rank)·batch + j mod batch.
  private sharding?: DatasetShard & { start: number; drawn: number; epochOrder?: { epoch: number; order: number[] } };
  epoch = 0;

  /** images: 1×C×H×W tensors with one C; the dataset keeps its own references. */
  constructor(images: Tensor[], readonly options: ImageDatasetOptions) {
    const { crop, batch } = options;
    if (!Number.isInteger(crop) || crop < 1) throw new RangeError(`ImageDataset: option 'crop' must be a positive integer, got ${crop}`);
    if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`ImageDataset: option 'batch' must be a positive integer, got ${batch}`);
    if (!images.length) throw new RangeError('ImageDataset: no images');
    const channels = images[0].shape[1];
    this.images = images.map((img, i) => {
      if (img.ndim !== 4 || img.shape[0] !== 1 || img.shape[1] !== channels) {
        throw new RangeError(`ImageDataset: image ${i} has shape [${img.shape}]; expected 1×${channels}×H×W like the first`);
      }
      const [h, w] = img.shape.slice(2);
      if (Math.min(h, w) >= crop) return keep(img.detach());
      if (options.resize === false) throw new RangeError(`ImageDataset: image ${i} is ${h}×${w}, smaller than the crop ${crop} (resize is off)`);
      const scale = crop / Math.min(h, w);
      return keep(scope(() => interpolate(img, { size: [Math.ceil(h * scale), Math.ceil(w * scale)], mode: 'bilinear', alignCorners: false })));
    });
    this.random = mulberry32(options.seed ?? 0);
  }

  /**
   * The embedded default when no images are given: `count` dead-leaves images of size², image i drawn with
   * seed imageSeed + i (so each image stays the same whatever the count).
   */
  static deadLeaves(options: ImageDatasetOptions & { count: number; size: number; imageSeed?: number }): ImageDataset {
    const first = options.imageSeed ?? 0;
    return scope(() => new ImageDataset(Array.from({ length: options.count }, (_, i) => deadLeaves({ count: 1, size: options.size, seed: first + i })), options));
  }

  static async fromFolder(dir: string, options: ImageDatasetOptions & ReadImageOptions): Promise<ImageDataset> {
    const images = await readImageFolder(dir, options);
    const set = new ImageDataset(images.map((i) => i.image), options);
    for (const i of images) i.image.dispose();
    return set;
  }

  get size(): number {
    return this.images.length;
  }

  private nextIndex(): number {
    if (this.cursor >= this.order.length) {
      // A fresh seeded shuffle each epoch (Fisher–Yates).
      this.order = this.images.map((_, i) => i);
      for (let i = this.order.length - 1; i > 0; i--) {
        const j = Math.floor(this.random() * (i + 1));
        [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
      }
      this.cursor = 0;
      this.epoch++;
    }
    return this.order[this.cursor++];
  }

  /**
   * Makes this the distributed sampler of one rank: global batch k (worldSize × batch samples of one global
   * sequence) is split in worldSize consecutive blocks of `batch`, of which this rank reads block `rank`.
   * Epoch e's shuffle is seeded by (seed, e) and sample g's crop and flip by (seed, g), so the global batches
   * are the same whatever the world size: N ranks of batch b see what one process of batch N·b sees. Call it
   * before drawing; state() then counts the global samples consumed, and restore() continues from them on any
   * world size.
   */
  shard({ rank, worldSize }: DatasetShard): void {
    if (!Number.isInteger(worldSize) || worldSize < 1) throw new RangeError(`ImageDataset.shard: 'worldSize' must be a positive integer, got ${worldSize}`);
    if (!Number.isInteger(rank) || rank < 0 || rank >= worldSize) throw new RangeError(`ImageDataset.shard: 'rank' must be an integer in [0, ${worldSize - 1}], got ${rank}`);
    this.prepared?.dispose();
    this.prepared = undefined;
    this.preparedFrom = undefined;
    this.sharding = { rank, worldSize, start: 0, drawn: 0 };
  }

  // The next sample's image and the generator of its crop and flip.
  private pick(): [Tensor, SeededRandom] {
    const s = this.sharding;
    if (!s) return [this.images[this.nextIndex()], this.random];
    const { batch } = this.options;
    const j = s.drawn++;
    const g = s.start + (Math.floor(j / batch) * s.worldSize + s.rank) * batch + (j % batch);
    const epoch = Math.floor(g / this.images.length);
    if (s.epochOrder?.epoch !== epoch) {
      // Fisher–Yates seeded by the epoch: every rank shuffles alike.
      const random = mulberry32(mix(this.options.seed ?? 0, -1 - epoch));
      const order = this.images.map((_, i) => i);
      for (let i = order.length - 1; i > 0; i--) {
        const k = Math.floor(random() * (i + 1));
        [order[i], order[k]] = [order[k], order[i]];
      }
      s.epochOrder = { epoch, order };
    }
    this.epoch = epoch + 1;
    return [this.images[s.epochOrder.order[g % this.images.length]], mulberry32(mix(this.options.seed ?? 0, g))];
  }

  private sample(): Tensor {
    const [img, random] = this.pick();
    const [h, w] = img.shape.slice(2);
    const { crop } = this.options;
    const top = Math.floor(random() * (h - crop + 1));
    const left = Math.floor(random() * (w - crop + 1));
    let patch = img.narrow(2, top, crop).narrow(3, left, crop);
    if (this.options.augment !== false) {
      const k = Math.floor(random() * 8); // rotation by k·90° (k mod 4), transposed when k ≥ 4
      if (k >= 4) patch = patch.transpose(2, 3);
      for (let r = 0; r < k % 4; r++) patch = patch.flip([3]).transpose(2, 3);
    }
    return patch;
  }

  /** The next batch, B×C×crop×crop. The caller owns it. */
  next(): Tensor {
    const ready = this.prepared;
    this.prepared = undefined;
    this.preparedFrom = undefined;
    if (ready) return ready;
    return scope(() => cat(Array.from({ length: this.options.batch }, () => this.sample()), { dim: 0 }).contiguous());
  }

  /** The next batch, with the one after it prepared on the next event-loop turn, while the caller works. */
  async nextAsync(): Promise<Tensor> {
    const batch = this.next();
    setImmediate(() => {
      // Nothing to prepare once disposed: a throw here would have no caller to reach.
      if (this.prepared || this.disposed) return;
      const from = this.snapshot();
      this.prepared = keep(this.next());
      this.preparedFrom = from;
    });
    return batch;
  }

  /** The state before the next batch the caller will get (a prepared batch counts as not yet drawn). */
  state(): DatasetState {
    return this.preparedFrom ?? this.snapshot();
  }

  /** Continues from a state() so the batches that follow are those that followed it. */
  restore(state: DatasetState): void {
    if ((state.consumed !== undefined) !== Boolean(this.sharding))
      throw new RangeError(
        this.sharding
          ? 'ImageDataset.restore: the state is of an unsharded dataset; a sharded (distributed) run continues only from a distributed run\'s state'
          : 'ImageDataset.restore: the state is of a sharded (distributed) dataset; shard() this one too to continue from it',
      );
    if (this.sharding) {
      if (!(Number.isInteger(state.consumed) && state.consumed! >= 0)) throw new RangeError(`ImageDataset.restore: 'consumed' must be a non-negative integer, got ${state.consumed}`);
      this.prepared?.dispose();
      this.prepared = undefined;
      this.preparedFrom = undefined;
      Object.assign(this.sharding, { start: state.consumed, drawn: 0 });
      this.epoch = state.epoch;
      return;
    }
    if ((state.order.length !== this.images.length && state.order.length !== 0) || state.order.some((i) => !(i >= 0 && i < this.images.length)))
      throw new RangeError(`ImageDataset.restore: the state is for a dataset of ${state.order.length} images, this one has ${this.images.length}`);
    this.prepared?.dispose();
    this.prepared = undefined;
    this.preparedFrom = undefined;
    this.random.state = state.random;
    this.order = [...state.order];
    this.cursor = state.cursor;
    this.epoch = state.epoch;
  }

  private snapshot(): DatasetState {
    const s = this.sharding;
    // Between batches every rank has drawn whole blocks, so the global count is exact.
    if (s) return { random: 0, order: [], cursor: 0, epoch: this.epoch, consumed: s.start + (s.drawn / this.options.batch) * s.worldSize * this.options.batch };
    return { random: this.random.state, order: [...this.order], cursor: this.cursor, epoch: this.epoch };
  }

  dispose(): void {
    this.disposed = true;
    for (const img of this.images) img.dispose();
    this.prepared?.dispose();
  }
}
