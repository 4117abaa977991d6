// Data-parallel training on c10d, PyTorch's own distributed engine (Gloo on CPU, NCCL on CUDA where LibTorch
// has it): one process group per process, joined through a TCPStore hosted by rank 0. Every collective is
// queued in call order on the group's one native thread, so all ranks issue them in the same order; the
// sync forms wait on the calling thread, the Async forms on a libuv worker, never on the event loop.
import type { Module } from '../module';
import { checkOptions, native, type Tensor } from '../tensor';

export interface InitOptions {
  /** This process's rank in [0, worldSize). Default: $RANK, else 0. */
  rank?: number;
  /** The number of processes. Default: $WORLD_SIZE, else 1. */
  worldSize?: number;
  /** Where rank 0 hosts the rendezvous. Default: $MASTER_ADDR, else '127.0.0.1'. */
  masterAddr?: string;
  /** Its TCP port. Default: $MASTER_PORT, else 29500. */
  masterPort?: number;
  /** Bounds the rendezvous and every collective (ms). Default: $INVDIFF_TIMEOUT_MS, else 600000 (10 min); a dead rank is reported sooner. */
  timeoutMs?: number;
}

export type ReduceOp = 'sum' | 'avg' | 'product' | 'min' | 'max';
const REDUCE_OPS: ReduceOp[] = ['sum', 'avg', 'product', 'min', 'max'];

/** 25 MiB, DDP's default bucket size. */
export const DEFAULT_BUCKET_BYTES = 25 * 2 ** 20;

/** This process's rank (0 when no group is initialised). */
export let rank = 0;
/** The number of processes in the group (1 when none is initialised). */
export let worldSize = 1;
/** This process's rank on its machine: $LOCAL_RANK as torchrun sets it, else 0 (which GPU a rank uses). */
export let localRank = 0;
let initialised = false;

/** Whether init() has joined a process group that destroy() has not left. */
export function isInitialized(): boolean {
  return initialised;
}

function integerFrom(op: string, name: string, value: unknown, envName: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  let v = value;
  let from = `option '${name}'`;
  if (v === undefined && process.env[envName] !== undefined && process.env[envName] !== '') {
    v = Number(process.env[envName]);
    from = `environment variable ${envName} ('${process.env[envName]}')`;
  }
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new RangeError(`${op}: ${from} must be an integer in [${min}, ${max === Number.MAX_SAFE_INTEGER ? '∞' : max}], got ${String(value ?? v)}`);
  return v;
}

function resolve(opts: InitOptions | undefined): [number, number, string, number, number] {
  const op = 'distributed.init';
  const o = checkOptions<InitOptions>(op, opts as InitOptions, ['rank', 'worldSize', 'masterAddr', 'masterPort', 'timeoutMs']);
  if (initialised) throw new Error(`${op}: a process group is already initialised (rank ${rank} of ${worldSize}); destroy() it first`);
  const size = integerFrom(op, 'worldSize', o.worldSize, 'WORLD_SIZE', 1, 1);
  const r = integerFrom(op, 'rank', o.rank, 'RANK', 0, 0, size - 1);
  const addr = o.masterAddr ?? (process.env.MASTER_ADDR || '127.0.0.1');
  if (typeof addr !== 'string' || !addr) throw new TypeError(`${op}: option 'masterAddr' must be a host name or address, got ${String(addr)}`);
  const port = integerFrom(op, 'masterPort', o.masterPort, 'MASTER_PORT', 29500, 1, 65535);
  const timeout = integerFrom(op, 'timeoutMs', o.timeoutMs, 'INVDIFF_TIMEOUT_MS', 600_000, 1);
  localRank = integerFrom(op, 'localRank', undefined, 'LOCAL_RANK', 0, 0);
  return [r, size, addr, port, timeout];
}

// The native errors name the collective, this rank and the dead one themselves, so the binding's call
// prefix ('distWait(ticket: 7): ') is dropped.
const cleaned = (err: unknown): unknown => {
  if (err instanceof Error) err.message = err.message.replace(/^dist\w+\([^)]*\): (?=distributed)/, '');
  return err;
};
function joined(r: number, size: number): void {
  rank = r;
  worldSize = size;
  initialised = true;
}

/**
 * Joins the process group: every rank calls it with the same worldSize, masterAddr and masterPort, and it
 * returns once all have joined (or throws when they do not within timeoutMs). Options default from the
 * variables torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), so cluster launchers work.
 */
export function init(opts?: InitOptions): void {
  const args = resolve(opts);
  try {
    native.distInit(...args);
  } catch (err) {
    throw cleaned(err);
  }
  joined(args[0], args[1]);
}

/** init() with the rendezvous awaited off the event loop. */
export async function initAsync(opts?: InitOptions): Promise<void> {
  const args = resolve(opts);
  await native['distInit$async'](...args).catch((err: unknown) => {
    throw cleaned(err);
  });
  joined(args[0], args[1]);
}

/** Leaves the process group (after the collectives already queued); false if there was none. */
export function destroy(): boolean {
  initialised = false;
  rank = 0;
  worldSize = 1;
  return native.distDestroy();
}

function group(op: string): void {
  if (!initialised) throw new Error(`distributed.${op}: no process group; call inv.distributed.init() first`);
}

function tensorArg(op: string, t: unknown): Tensor {
  if (!t || typeof t !== 'object' || typeof (t as Tensor).h !== 'number') throw new TypeError(`distributed.${op}: argument 'tensor' expected a Tensor`);
  return t as Tensor;
}

function reduceOp(op: string, o: { op?: ReduceOp }): ReduceOp {
  const r = o.op ?? 'sum';
  if (!REDUCE_OPS.includes(r)) throw new RangeError(`distributed.${op}: option 'op' must be one of ${REDUCE_OPS.map((x) => `'${x}'`).join(', ')}, got ${JSON.stringify(r)}`);
  return r;
}

function srcOf(op: string, o: { src?: number }): number {
  const src = o.src ?? 0;
  if (!Number.isInteger(src) || src < 0 || src >= worldSize) throw new RangeError(`distributed.${op}: option 'src' must be a rank in [0, ${worldSize - 1}], got ${String(src)}`);
  return src;
}

function bucketBytesOf(op: string, o: { bucketBytes?: number }): number {
  const b = o.bucketBytes ?? DEFAULT_BUCKET_BYTES;
  if (!Number.isInteger(b) || b < 1) throw new RangeError(`distributed.${op}: option 'bucketBytes' must be a positive integer, got ${String(b)}`);
  return b;
}

function wait(ticket: number): void {
  try {
    native.distWait(ticket);
  } catch (err) {
    throw cleaned(err);
  }
}
const waitAsync = (ticket: number): Promise<void> =>
  native['distWait$async'](ticket).catch((err: unknown) => {
    throw cleaned(err);
  });

function queueAllReduce(op: string, t: unknown, opts: { op?: ReduceOp } | undefined): number {
  group(op);
  const o = checkOptions<{ op?: ReduceOp }>(`distributed.${op}`, opts as { op?: ReduceOp }, ['op']);
  return native.distAllReduce(tensorArg(op, t).h, reduceOp(op, o));
}

/** In place: t ← the reduction (default 'sum') of t over all ranks. Returns t. */
export function allReduce(t: Tensor, opts?: { op?: ReduceOp }): Tensor {
  wait(queueAllReduce('allReduce', t, opts));
  return t;
}

export async function allReduceAsync(t: Tensor, opts?: { op?: ReduceOp }): Promise<Tensor> {
  await waitAsync(queueAllReduce('allReduceAsync', t, opts));
  return t;
}

function queueBroadcast(op: string, t: unknown, opts: { src?: number } | undefined): number {
  group(op);
  const o = checkOptions<{ src?: number }>(`distributed.${op}`, opts as { src?: number }, ['src']);
  return native.distBroadcast(tensorArg(op, t).h, srcOf(op, o));
}

/** In place: t ← rank src's t (default src 0). Returns t. */
export function broadcast(t: Tensor, opts?: { src?: number }): Tensor {
  wait(queueBroadcast('broadcast', t, opts));
  return t;
}

export async function broadcastAsync(t: Tensor, opts?: { src?: number }): Promise<Tensor> {
  await waitAsync(queueBroadcast('broadcastAsync', t, opts));
  return t;
}

/** Returns when every rank has called it. */
export function barrier(): void {
  group('barrier');
  wait(native.distBarrier());
}

export async function barrierAsync(): Promise<void> {
  group('barrierAsync');
  await waitAsync(native.distBarrier());
}

function queueAverage(op: string, params: unknown, opts: { bucketBytes?: number } | undefined): number {
  group(op);
  const o = checkOptions<{ bucketBytes?: number }>(`distributed.${op}`, opts as { bucketBytes?: number }, ['bucketBytes']);
  if (!Array.isArray(params)) throw new TypeError(`distributed.${op}: argument 'params' expected an array of Tensors`);
  return native.distAverageGradients(params.map((p) => tensorArg(op, p).h), bucketBytesOf(op, o));
}

/**
 * Each parameter's gradient ← its mean over ranks (DDP's allreduce), packed into buckets of at most
 * bucketBytes (default 25 MiB) issued in the order of params; a parameter without a gradient counts as zeros.
 */
export function averageGradients(params: Tensor[], opts?: { bucketBytes?: number }): void {
  wait(queueAverage('averageGradients', params, opts));
}

export async function averageGradientsAsync(params: Tensor[], opts?: { bucketBytes?: number }): Promise<void> {
  await waitAsync(queueAverage('averageGradientsAsync', params, opts));
}

function queueModule(op: string, module: unknown, opts: { src?: number; bucketBytes?: number } | undefined): number {
  group(op);
  const o = checkOptions<{ src?: number; bucketBytes?: number }>(`distributed.${op}`, opts as { src?: number; bucketBytes?: number }, ['src', 'bucketBytes']);
  if (!module || typeof (module as Module).handle !== 'number') throw new TypeError(`distributed.${op}: argument 'module' expected a Module`);
  return native.distBroadcastModule((module as Module).handle, srcOf(op, o), bucketBytesOf(op, o));
}

/** A module's parameters and buffers ← rank src's (default 0), so that every replica starts alike. */
export function broadcastModule(module: Module, opts?: { src?: number; bucketBytes?: number }): void {
  wait(queueModule('broadcastModule', module, opts));
}

export async function broadcastModuleAsync(module: Module, opts?: { src?: number; bucketBytes?: number }): Promise<void> {
  await waitAsync(queueModule('broadcastModuleAsync', module, opts));
}
