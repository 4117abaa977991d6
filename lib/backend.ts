// Threads and backend facts.
import { native } from './tensor';

export function setNumThreads(n: number): void {
  native.setNumThreads(n);
}

export interface BackendInfo {
  torch: string;
  cuda: boolean;
  cudaDevices: number;
  threads: number;
  /** OpenBLAS's own thread pool, which `setNumThreads` sets too; -1 where LibTorch's BLAS is not OpenBLAS. */
  blasThreads: number;
  /** The CPU OpenBLAS chose its kernels for (e.g. 'SkylakeX'; invdiff names it from the CPU flags where
   * OPENBLAS_CORETYPE is unset); '' where LibTorch's BLAS is not OpenBLAS. */
  blasCore: string;
}

export function backend(): BackendInfo {
  return native.backendInfo() as unknown as BackendInfo;
}
