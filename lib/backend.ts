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
}

export function backend(): BackendInfo {
  return native.backendInfo() as unknown as BackendInfo;
}
