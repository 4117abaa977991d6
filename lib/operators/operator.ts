// Degradation operators y = A x (+ noise): native objects with A, Aᵀ and A⁺, on N×C×H×W images or
// B×K×C×H×W stacks. See native/core/operators/operator.h for the conventions.
import { OperatorMethods } from '../generated/objects';
import { withSuggestion } from '../suggest';
import { native, TensorBase, type Tensor } from '../tensor';
import type { Handle } from '../generated/binding';

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

export class Operator extends OperatorMethods {
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
    super();
    if (typeof options !== 'object' || options === null) throw new TypeError(`operators.create: argument 'options' expected an object with imageShape [C, H, W]`);
    // Tensor-valued options (a mask) travel apart from the plain ones.
    const plain: Record<string, unknown> = {};
    const tensors: [string, Handle][] = [];
    for (const [key, value] of Object.entries(options)) {
      if (value instanceof TensorBase) tensors.push([key, value.h]);
      else plain[key] = value;
    }
    try {
      this.handle = native.operatorCreate(family, plain, tensors);
    } catch (e) {
      // The binding's call signature says nothing a user of create() needs; the family's message does.
      if (e instanceof Error) e.message = e.message.replace(/^operatorCreate\([^)]*\): /, 'operators.create: ');
      throw withSuggestion(e);
    }
    handles.register(this, this.handle, this);
    const info = native.operatorInfo(this.handle) as unknown as Info;
    this.family = info.family;
    this.imageShape = info.imageShape;
    this.measurementShape = info.measurementShape;
    this.batch = info.batch;
    this.seed = info.seed;
    this.noiseStd = info.noiseStd;
    this.pinvMethod = info.pinv;
    this.pinvExact = info.pinvExact;
  }

  dispose(): void {
    handles.unregister(this);
    native.operatorDispose(this.handle);
  }
}

/** Every family the factory can build. */
export function names(): string[] {
  return native.operatorFamilies();
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
