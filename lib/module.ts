// Module: a native LibTorch module (parameters, train/eval, device) driven from TS.
import { Device, Dtype } from './generated/ops';
import { loadSafetensors, loadSafetensorsAsync, saveSafetensors, type SafetensorsContents } from './safetensors';
import { ModuleMethods } from './generated/objects';
import { withSuggestion } from './suggest';
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
  /** Diffusion denoisers: the image side they are built and trained for (option imageSize). */
  imageSize?: number;
  /** Diffusion denoisers: 'unet' or 'hdit'. */
  architecture?: 'unet' | 'hdit';
  /** U-Net denoisers: their configuration with every default resolved (what `IDM.fromPrior` builds from). */
  channels?: number;
  multipliers?: number[];
  blocks?: number;
  /** Per level, 1 where it has self-attention. */
  attention?: number[];
  heads?: number;
  groups?: number;
  patch?: number;
  sigmaData?: number;
  dropout?: number;
}

const handles = new FinalizationRegistry<number>((h) => native.moduleDispose(h));

// While moduleFromFile builds a module: the CPU bytes its native construction may hold.
let constructionLimit: number | undefined;

export class Module extends ModuleMethods {
  readonly handle: number;
  private facts?: ModuleInfo;

  /** Builds a native module of a registered kind (see moduleKinds()). */
  constructor(readonly kind: string, readonly options: ModuleOptions = {}) {
    super();
    try {
      this.handle = native.moduleCreate(kind, options, constructionLimit);
    } catch (e) {
      throw withSuggestion(e);
    }
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
    return moduleFromFile('Module.load', path, loadSafetensors(path), undefined, (options, kind) => new Module(kind, options));
  }
  static async loadAsync(path: string): Promise<Module> {
    return moduleFromFile('Module.load', path, await loadSafetensorsAsync(path), undefined, (options, kind) => new Module(kind, options));
  }

  dispose(): void {
    handles.unregister(this);
    native.moduleDispose(this.handle);
  }
}

/**
 * The module a file written by save() describes, built by `make` from the file's kind and options and filled
 * with its tensors. The file is untrusted: its options must be a JSON object, building may hold no more
 * memory than the file's own tensors justify (so a small file cannot ask for gigabytes), and the module's
 * parameters must match the tensors by name and shape before any value is copied. The file's tensors are
 * disposed either way, and the module too when any of this fails.
 */
export function moduleFromFile<M extends Module>(
  owner: string,
  file: string,
  { tensors, metadata }: SafetensorsContents,
  kind: string | undefined,
  make: (options: ModuleOptions, kind: string) => M,
): M {
  try {
    const found = metadata['invdiff.kind'];
    if (!found) throw new Error(`${owner}: '${file}' has no 'invdiff.kind' metadata; it was not written by Module.save`);
    if (kind !== undefined && found !== kind) throw new Error(`${owner}: '${file}' holds a '${found}' module, not a '${kind}' one`);
    const options = savedOptions(owner, file, metadata['invdiff.options']);
    const values = Object.values(tensors).reduce((n, t) => n + t.numel, 0);
    // float32 parameters twice over (a layer may initialise a copy), whatever dtype the file stores, and room for small buffers.
    constructionLimit = 8 * values + 64 * 2 ** 20;
    let model: M;
    try {
      model = make(options, found);
    } catch (e) {
      if (/allocation limit/.test((e as Error).message))
        throw new Error(`${owner}: the options in '${file}' (invdiff.options) describe a model larger than the ${values} values its tensors hold; the file is damaged or was not written by save()`);
      throw e;
    } finally {
      constructionLimit = undefined;
    }
    try {
      checkParameters(owner, file, model, tensors);
      model.loadStateDict(tensors);
      return model;
    } catch (e) {
      model.dispose();
      throw e;
    }
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}

function savedOptions(owner: string, file: string, text: string | undefined): ModuleOptions {
  if (text === undefined) return {};
  let options: unknown;
  try {
    options = JSON.parse(text);
  } catch {
    throw new Error(`${owner}: '${file}' has 'invdiff.options' metadata that is not JSON`);
  }
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new Error(`${owner}: '${file}' has 'invdiff.options' metadata that is not a JSON object`);
  return options as ModuleOptions;
}

// Every parameter the options imply must be in the file with its shape, and nothing else.
function checkParameters(owner: string, file: string, model: Module, tensors: Record<string, Tensor>): void {
  const expected = scope(() => model.namedParameters().map(([name, p]): [string, number[]] => [name, p.shape]));
  const problems: string[] = [];
  for (const [name, shape] of expected) {
    const t = tensors[name];
    if (!t) problems.push(`lacks '${name}'`);
    else if (t.shape.join() !== shape.join()) problems.push(`has '${name}' as [${t.shape.join(', ')}], the model [${shape.join(', ')}]`);
  }
  const names = new Set(expected.map(([name]) => name));
  for (const name of Object.keys(tensors)) if (!names.has(name)) problems.push(`has '${name}', which the model does not`);
  if (problems.length)
    throw new Error(`${owner}: '${file}' does not hold the parameters its options describe (${problems.length} problems): ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; …' : ''}`);
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
