// Threads and backend facts.
import * as os from 'os';
import { native } from './tensor';

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
