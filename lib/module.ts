// Module: a native LibTorch module (parameters, train/eval, device) driven from TS.
import { Device, Dtype } from './generated/ops';
import { loadSafetensors, loadSafetensorsAsync, saveSafetensors } from './safetensors';
import { ModuleMethods } from './generated/objects';
import { fromHandle, native, scope, type Tensor } from './tensor';

export type ModuleOptions = Record<string, number | boolean | string | number[]>;

/** Facts of a native module (Module.info). */
export interface ModuleInfo {
  /** How many tensors forward takes. */
  arity: number;
  /** Networks: image height and width must be multiples of this. */
  sizeMultiple?: number;
  /** Networks: channels of the images they denoise or reconstruct. */
  imageChannels?: number;
}

const handles = new FinalizationRegistry<number>((h) => native.moduleDispose(h));

export class Module extends ModuleMethods {
  readonly handle: number;
  private facts?: ModuleInfo;

  /** Builds a native module of a registered kind (see moduleKinds()). */
  constructor(readonly kind: string, readonly options: ModuleOptions = {}) {
    super();
    this.handle = native.moduleCreate(kind, options);
    handles.register(this, this.handle, this);
  }

  /** Facts the native module states about itself, so none is recomputed here. */
  get info(): ModuleInfo {
    return (this.facts ??= native.moduleInfo(this.handle) as unknown as ModuleInfo);
  }

  forward(...inputs: Tensor[]): Tensor[] {
    return native.moduleForward(this.handle, inputs.map((t) => t.h)).map(fromHandle);
  }
  forwardAsync(...inputs: Tensor[]): Promise<Tensor[]> {
    return native['moduleForward$async'](this.handle, inputs.map((t) => t.h)).then((hs) => hs.map(fromHandle));
  }
  /** forward for modules with one output. */
  call(...inputs: Tensor[]): Tensor {
    return this.forward(...inputs)[0];
  }

  namedParameters(): [string, Tensor][] {
    return native.moduleNamedParameters(this.handle).map(([name, h]) => [name, fromHandle(h)]);
  }
  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }
  /** The dtype of the parameters (of the first one; modules keep them alike). */
  get dtype(): Dtype {
    return scope(() => this.parameters()[0]?.dtype ?? 'float32');
  }
  train(flag = true): this {
    native.moduleSetTraining(this.handle, flag);
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  to(opts: { device?: Device; dtype?: Dtype }): this {
    native.moduleTo(this.handle, opts.device, opts.dtype);
    return this;
  }

  /** Copies parameter values in by name; every name and shape must match. */
  loadStateDict(state: Record<string, Tensor> | [string, Tensor][]): void {
    const pairs = Array.isArray(state) ? state : Object.entries(state);
    native.moduleLoadState(this.handle, pairs.map(([n, t]) => [n, t.h]));
  }

  /**
   * Writes parameters (safetensors) with the kind and options as metadata, so Module.load rebuilds it.
   * `dtype` stores them converted (e.g. 'float16' halves a shipped file); loading converts back to the
   * module's own dtype.
   */
  save(path: string, metadata: Record<string, string> = {}, opts: { dtype?: Dtype } = {}): void {
    const meta = { ...metadata, 'invdiff.kind': this.kind, 'invdiff.options': JSON.stringify(this.options) };
    if (!opts.dtype) return saveSafetensors(path, this.namedParameters(), meta);
    scope(() => saveSafetensors(path, this.namedParameters().map(([n, p]): [string, Tensor] => [n, p.to({ dtype: opts.dtype })]), meta));
  }

  static load(path: string): Module {
    const { tensors, metadata } = loadSafetensors(path);
    return Module.fromContents(path, tensors, metadata);
  }
  static async loadAsync(path: string): Promise<Module> {
    const { tensors, metadata } = await loadSafetensorsAsync(path);
    return Module.fromContents(path, tensors, metadata);
  }
  private static fromContents(path: string, tensors: Record<string, Tensor>, metadata: Record<string, string>): Module {
    const kind = metadata['invdiff.kind'];
    if (!kind) throw new Error(`Module.load: '${path}' has no 'invdiff.kind' metadata; it was not written by Module.save`);
    const m = new Module(kind, JSON.parse(metadata['invdiff.options'] ?? '{}'));
    m.loadStateDict(tensors);
    for (const t of Object.values(tensors)) t.dispose();
    return m;
  }

  dispose(): void {
    handles.unregister(this);
    native.moduleDispose(this.handle);
  }
}

export function moduleKinds(): string[] {
  return native.moduleKinds();
}

/** Layer kinds with their options typed. */
export const nn = {
  linear: (o: { inFeatures: number; outFeatures: number; bias?: boolean }) => new Module('linear', o),
  conv2d: (o: { inChannels: number; outChannels: number; kernelSize: number; stride?: number; padding?: number; groups?: number; bias?: boolean }) =>
    new Module('conv2d', o),
  groupNorm: (o: { groups: number; channels: number; eps?: number }) => new Module('groupNorm', o),
  mlp: (o: { sizes: number[]; activation?: 'relu' | 'silu' | 'gelu' | 'tanh' }) => new Module('mlp', o),
};
