// Degradation operators y = A x (+ noise): native objects with A, Aᵀ and A⁺, on N×C×H×W images or
// B×K×C×H×W stacks. See native/core/operators/operator.h for the conventions.
import { Handle, NativeBinding, TensorMethods, th } from '../generated/ops';
import { fromHandle, nativeAddon } from '../runtime';
import type { Tensor } from '../tensor';

const native = nativeAddon as NativeBinding;
const handles = new FinalizationRegistry<number>((h) => native.operatorDispose(h));

export interface OperatorOptions {
  /** [C, H, W] of the images the operator acts on. */
  imageShape: [number, number, number] | number[];
  /** Batch elements with their own parameters (element b equals the operator built with seed + b). Default 1: one operator for any batch. */
  batch?: number;
  seed?: number;
  /** Standard deviation of the Gaussian noise measure() adds (images live in [-1, 1]). */
  noiseStd?: number;
  /** Family options, e.g. keep, patchSize, boxSize, visibleSize, kernel, sigma, kernelSize, intensity, factor, ratio, blockSize, scrambled, maxRows. */
  [option: string]: number | boolean | string | number[] | Tensor | undefined;
}

interface Info {
  family: string;
  imageShape: number[];
  measurementShape: number[];
  batch: number;
  seed: number;
  noiseStd: number;
  pinv: string;
  pinvExact: boolean;
}

export interface LangevinOptions {
  center: Tensor;
  y: Tensor;
  lr: number;
  priorStd: number;
  dataStd: number;
  steps: number;
  seed?: number;
}

export class Operator {
  readonly handle: number;
  readonly family: string;
  readonly imageShape: number[];
  /** Per-image measurement shape; measurements are N×(this) or B×K×(this). */
  readonly measurementShape: number[];
  readonly batch: number;
  readonly seed: number;
  readonly noiseStd: number;
  /** How A⁺ is computed: exactly, by conjugate gradients, or a named fast approximation. */
  readonly pinvMethod: string;
  /** False where pinv is a fast approximation (strided blur's closed form, CT's filtered back-projection). */
  readonly pinvExact: boolean;

  constructor(family: string, options: OperatorOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError(`operators.create: argument 'options' expected an object with imageShape [C, H, W]`);
    // Tensor-valued options (a mask) travel apart from the plain ones.
    const plain: Record<string, unknown> = {};
    const tensors: [string, Handle][] = [];
    for (const [key, value] of Object.entries(options)) {
      if (value instanceof TensorMethods) tensors.push([key, value.h]);
      else plain[key] = value;
    }
    this.handle = native.operatorCreate(family, plain, tensors);
    handles.register(this, this.handle, this);
    const info: Info = JSON.parse(native.operatorInfo(this.handle));
    this.family = info.family;
    this.imageShape = info.imageShape;
    this.measurementShape = info.measurementShape;
    this.batch = info.batch;
    this.seed = info.seed;
    this.noiseStd = info.noiseStd;
    this.pinvMethod = info.pinv;
    this.pinvExact = info.pinvExact;
  }

  /** A x */
  forward(x: Tensor): Tensor {
    return fromHandle(native.operatorForward(this.handle, th(x)));
  }
  /** Aᵀ y */
  adjoint(y: Tensor): Tensor {
    return fromHandle(native.operatorAdjoint(this.handle, th(y)));
  }
  /** A⁺ y */
  pinv(y: Tensor): Tensor {
    return fromHandle(native.operatorPinv(this.handle, th(y)));
  }
  /** x + A⁺(y − A x) */
  project(x: Tensor, y: Tensor): Tensor {
    return fromHandle(native.operatorProject(this.handle, th(x), th(y)));
  }
  /** A x + noiseStd · n with n ~ N(0, I) drawn from seed. */
  measure(x: Tensor, opts: { seed?: number } = {}): Tensor {
    return fromHandle(native.operatorMeasure(this.handle, th(x), opts.seed));
  }
  /**
   * `steps` Langevin steps from x on p(x) ∝ exp(−‖A x − y‖²/(2·dataStd²) − ‖x − center‖²/(2·priorStd²)) at rate
   * lr: x ← x − lr·∇(−log p(x)) + √(2·lr)·z, step k's noise keyed by seed + k (as gaussianNoise). DAPS's inner
   * loop, run natively: three native calls per step instead of a dozen.
   */
  langevin(x: Tensor, opts: LangevinOptions): Tensor {
    return fromHandle(native.operatorLangevin(...this.langevinArgs(x, opts)));
  }
  langevinAsync(x: Tensor, opts: LangevinOptions): Promise<Tensor> {
    return native['operatorLangevin$async'](...this.langevinArgs(x, opts)).then(fromHandle);
  }
  private langevinArgs(x: Tensor, o: LangevinOptions) {
    return [this.handle, th(x), th(o.center), th(o.y), o.lr, o.priorStd, o.dataStd, o.steps, o.seed ?? 0] as const;
  }
  forwardAsync(x: Tensor): Promise<Tensor> {
    return native['operatorForward$async'](this.handle, th(x)).then(fromHandle);
  }
  adjointAsync(y: Tensor): Promise<Tensor> {
    return native['operatorAdjoint$async'](this.handle, th(y)).then(fromHandle);
  }
  pinvAsync(y: Tensor): Promise<Tensor> {
    return native['operatorPinv$async'](this.handle, th(y)).then(fromHandle);
  }
  projectAsync(x: Tensor, y: Tensor): Promise<Tensor> {
    return native['operatorProject$async'](this.handle, th(x), th(y)).then(fromHandle);
  }
  measureAsync(x: Tensor, opts: { seed?: number } = {}): Promise<Tensor> {
    return native['operatorMeasure$async'](this.handle, th(x), opts.seed).then(fromHandle);
  }

  dispose(): void {
    handles.unregister(this);
    native.operatorDispose(this.handle);
  }
}

/** Every family the factory can build. */
export function names(): string[] {
  return native.operatorFamilies().split(',');
}

export function create(name: string, options: OperatorOptions): Operator {
  return new Operator(name, options);
}

/** A degradation without its images: a family and its options; imageShape, batch and seed are set where it is applied. */
export type OperatorSpec = { family: string } & Omit<Partial<OperatorOptions>, 'imageShape'>;

/** The operator a spec describes, for images of one shape. */
export function fromSpec(spec: OperatorSpec, imageShape: number[], options: { batch?: number; seed?: number } = {}): Operator {
  if (!spec || typeof spec.family !== 'string') throw new TypeError(`operator spec: expected { family: string, ...options }, got ${JSON.stringify(spec)}`);
  const { family, ...rest } = spec;
  return new Operator(family, { ...rest, imageShape, ...options });
}
