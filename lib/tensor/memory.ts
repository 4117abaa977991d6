// Memory accounting: what the counting allocator and the handle table know.
import { native } from './native';

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
  return native.memoryStats() as unknown as MemoryStats;
}

export function resetPeakMemory(): void {
  native.resetPeakMemory();
}
