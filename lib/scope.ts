// Tensor lifetime: deterministic disposal through scopes; finalizers only for what outlives every scope.
import { AsyncLocalStorage } from 'async_hooks';
import type { Tensor } from './tensor';
import { nativeAddon } from './native';

const native = nativeAddon as { dispose(h: number): boolean };

interface Frame {
  tensors: Tensor[];
}

const syncFrames: Frame[] = [];
const asyncFrames = new AsyncLocalStorage<Frame>();
// Registering costs 200-600 ns, so only tensors that leave every scope are registered.
const finalizers = new FinalizationRegistry<number>((h) => native.dispose(h));
const kept = new WeakSet<Tensor>();

function currentFrame(): Frame | undefined {
  return syncFrames.length ? syncFrames[syncFrames.length - 1] : asyncFrames.getStore();
}

/** Gives a new tensor to the innermost scope, or to the finalizer backstop outside every scope. */
export function track(t: Tensor): Tensor {
  const frame = currentFrame();
  if (frame) frame.tensors.push(t);
  else finalizers.register(t, t.h);
  return t;
}

/** Exempts a tensor from the scopes it was created in: it lives until dispose() or garbage collection. */
export function keep<T extends Tensor>(t: T): T {
  kept.add(t);
  return t;
}

function collect(value: unknown, into: Set<unknown>, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 8) return;
  if ('h' in value && typeof (value as { dispose?: unknown }).dispose === 'function') {
    into.add(value);
    return;
  }
  if (Array.isArray(value)) for (const v of value) collect(v, into, depth + 1);
  else if (value instanceof Map) for (const v of value.values()) collect(v, into, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) collect(v, into, depth + 1);
}

// Frees what the frame created except what the result holds or keep() marked; those move outward.
function close(frame: Frame, result: unknown, failed: boolean): void {
  const escaping = new Set<unknown>();
  if (!failed) collect(result, escaping);
  for (const t of frame.tensors) {
    if (kept.has(t)) finalizers.register(t, t.h);
    else if (escaping.has(t)) track(t);
    else t.dispose();
  }
}

/**
 * Runs fn and disposes every tensor created inside it, except those it returns (in arrays, plain objects
 * or Maps) and those passed to keep(). Returned tensors belong to the enclosing scope.
 */
export function scope<T>(fn: () => T): T {
  const frame: Frame = { tensors: [] };
  syncFrames.push(frame);
  let result: T;
  try {
    result = fn();
  } catch (err) {
    syncFrames.pop();
    close(frame, undefined, true);
    throw err;
  }
  syncFrames.pop();
  if (result instanceof Promise) {
    close(frame, undefined, true);
    throw new TypeError('scope: fn returned a Promise; use scopeAsync for async work');
  }
  close(frame, result, false);
  return result;
}

/** scope() for async functions: tensors created in fn's async continuations belong to this scope. */
export async function scopeAsync<T>(fn: () => Promise<T>): Promise<T> {
  const frame: Frame = { tensors: [] };
  let result: T;
  try {
    result = await asyncFrames.run(frame, fn);
  } catch (err) {
    close(frame, undefined, true);
    throw err;
  }
  close(frame, result, false);
  return result;
}
