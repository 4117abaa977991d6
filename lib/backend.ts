// Memory accounting, threads and backend facts.
import * as os from 'os';
import { native } from './tensor';

export interface MemoryStats {
  /** Live tensor handles held by JS. */
  tensors: number;
  /** Bytes of live CPU tensor storage (every LibTorch CPU allocation, counted by our allocator). */
  bytes: number;
  /** Highest `bytes` since the last resetPeakMemory(). */
  peakBytes: number;
  /** CUDA bytes allocated and their peak, from the caching allocator (0 without CUDA). */
  cudaBytes: number;
  cudaPeakBytes: number;
  /** CPU bytes V8 was last told about (in 4 MiB steps), so garbage collection weighs native memory. */
  reportedToV8: number;
}

export function memory(): MemoryStats {
  const [tensors, bytes, peakBytes, cudaBytes, cudaPeakBytes, reportedToV8] = native.memoryStats();
  return { tensors, bytes, peakBytes, cudaBytes, cudaPeakBytes, reportedToV8 };
}

export function resetPeakMemory(): void {
  native.resetPeakMemory();
}

export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}

export interface BackendInfo {
  torch: string;
  cuda: boolean;
  cudaDevices: number;
  threads: number;
}

export function backend(): BackendInfo {
  return native.backendInfo() as unknown as BackendInfo;
}

// LibTorch may start with one thread in an embedding process; default to the cores we may use.
const requested = Number(process.env.INVDIFF_NUM_THREADS);
setNumThreads(Number.isInteger(requested) && requested > 0 ? requested : os.availableParallelism?.() ?? os.cpus().length);
