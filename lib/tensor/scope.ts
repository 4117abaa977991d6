// Tensor lifetime: deterministic disposal through scopes; finalizers only for what outlives every scope.
import { AsyncLocalStorage } from 'async_hooks';
import { TensorBase } from './base';
import { native } from './native';

type Tensor = TensorBase;

interface Frame {
  tensors: Tensor[];
  /**
   * The frame that was current when this one opened. An async result that arrives after its scopeAsync
   * closed (a promise nobody awaited) still runs in that scope's async context; it goes here instead.
   */
  parent: Frame | undefined;
  closed: boolean;
}

const syncFrames: Frame[] = [];
const asyncFrames = new AsyncLocalStorage<Frame>();
// Registering costs 200-600 ns, so only tensors that leave every scope are registered.
const finalizers = new FinalizationRegistry<number>((h) => native.dispose(h));

function currentFrame(): Frame | undefined {
  let frame = syncFrames.length ? syncFrames[syncFrames.length - 1] : asyncFrames.getStore();
  while (frame?.closed) frame = frame.parent;
  return frame;
}

function openFrame(): Frame {
  return { tensors: [], parent: currentFrame(), closed: false };
}

/** Gives a new tensor to the innermost open scope, or to the finalizer backstop outside every scope. */
export function track<T extends Tensor>(t: T): T {
  const frame = currentFrame();
  if (frame) frame.tensors.push(t);
  else finalizers.register(t, t.h, t);
  return t;
}

/** Exempts a tensor from the scopes it was created in: it lives until dispose() or garbage collection. */
export function keep<T extends Tensor>(t: T): T {
  t.lifetime = KEPT;
  return t;
}

/**
 * Undoes keep(): the tensor belongs to the innermost open scope again, as if just created there (a sampler
 * hands its last kept state to its caller this way, so a result nobody returns is freed with the scope).
 */
export function unkeep<T extends Tensor>(t: T): T {
  if (t.lifetime !== KEPT) return t;
  t.lifetime = 0;
  finalizers.unregister(t);
  return track(t);
}

// Tensor.lifetime marks, so closing a scope needs no Set lookups (they would hash every tensor).
const KEPT = -1;
let nextMark = 1;

// Marks the tensors a scope's result holds (in arrays, plain objects and Maps) as escaping.
function markEscaping(value: unknown, mark: number, depth = 0): void {
  if (value === null || typeof value !== 'object' || depth > 8) return;
  if (value instanceof TensorBase) {
    if (value.lifetime !== KEPT) value.lifetime = mark;
    return;
  }
  if (Array.isArray(value)) for (const v of value) markEscaping(v, mark, depth + 1);
  else if (value instanceof Map) for (const v of value.values()) markEscaping(v, mark, depth + 1);
  else if (Object.getPrototypeOf(value) === Object.prototype) for (const v of Object.values(value)) markEscaping(v, mark, depth + 1);
}

// Frees what the frame created except what the result holds or keep() marked; those move outward.
function close(frame: Frame, result: unknown, failed: boolean): void {
  frame.closed = true;
  const mark = nextMark++;
  if (!failed) markEscaping(result, mark);
  const doomed = new Float64Array(frame.tensors.length);
  let n = 0;
  for (const t of frame.tensors) {
    if (t.lifetime === KEPT) finalizers.register(t, t.h, t);
    else if (t.lifetime === mark) track(t);
    else doomed[n++] = t.h;
  }
  frame.tensors = []; // late arrivals' contexts may keep the frame alive; its tensors need not be
  // One native call per scope; a single tensor by number, which skips copying the handle array.
  if (n === 1) native.dispose(doomed[0]);
  else if (n) native.disposeAll(n === doomed.length ? doomed : doomed.subarray(0, n));
}

/**
 * Runs fn and disposes every tensor created inside it, except those it returns (in arrays, plain objects
 * or Maps) and those passed to keep(). Returned tensors belong to the enclosing scope.
 */
export function scope<T>(fn: () => T): T {
  const frame = openFrame();
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
  const frame = openFrame();
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
