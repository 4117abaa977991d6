// TensorBase: a handle to a native torch::Tensor with its properties, conversion back to JS and lifetime.
// The schema's methods come on top of it in the generated class Tensor (lib/generated/tensor.ts).
import { native } from './native';
import type { Dtype, TypedArray } from './types';

function toNumbers(d: TypedArray): Float64Array | Float32Array | Int32Array | Int16Array | Int8Array | Uint8Array {
  return d instanceof BigInt64Array ? Float64Array.from(d, Number) : d;
}

export abstract class TensorBase {
  /** Scope bookkeeping (see scope.ts); set in the constructor so every Tensor has one shape for V8. */
  lifetime = 0;

  constructor(readonly h: number) {}

  get shape(): number[] {
    return native.shape(this.h);
  }
  get dtype(): Dtype {
    return native.dtype(this.h) as Dtype;
  }
  get device(): string {
    return native.device(this.h);
  }
  get numel(): number {
    return native.numel(this.h);
  }
  get ndim(): number {
    return native.shape(this.h).length;
  }
  get requiresGrad(): boolean {
    return native.requiresGrad(this.h);
  }
  set requiresGrad(flag: boolean) {
    native.setRequiresGrad(this.h, flag);
  }
  /** Starts autograd tracking (for leaves) and returns this tensor. */
  requiresGrad_(flag = true): this {
    native.setRequiresGrad(this.h, flag);
    return this;
  }

  /** The values in a typed array of this dtype (int64 as BigInt64Array, bool as Uint8Array). */
  toTypedArray(): TypedArray {
    return native.data(this.h);
  }
  toFloat32Array(): Float32Array {
    const d = native.data(this.h);
    return d instanceof Float32Array ? d : Float32Array.from(toNumbers(d));
  }
  toFloat64Array(): Float64Array {
    const d = native.data(this.h);
    return d instanceof Float64Array ? d : Float64Array.from(toNumbers(d));
  }
  /** Nested arrays of numbers, shaped like the tensor. */
  toArray(): unknown {
    const flat = Array.from(toNumbers(native.data(this.h)));
    const shape = this.shape;
    const build = (dim: number, offset: number): unknown => {
      if (dim === shape.length) return flat[offset];
      const stride = shape.slice(dim + 1).reduce((a, b) => a * b, 1);
      return Array.from({ length: shape[dim] }, (_, i) => build(dim + 1, offset + i * stride));
    };
    return build(0, 0);
  }

  /** Frees the native tensor now. Using the tensor afterwards throws. */
  dispose(): void {
    native.dispose(this.h);
  }
  get isDisposed(): boolean {
    return !native.isLive(this.h);
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  toString(): string {
    return this.isDisposed ? 'Tensor(disposed)' : `Tensor(${this.dtype}[${this.shape.join(', ')}] on ${this.device})`;
  }
}
