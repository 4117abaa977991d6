// What LibTorch this build runs on, and its thread pool.
#pragma once
#include <string>

namespace invdiff::backend {

struct Info {
  std::string torch;  // LibTorch version, e.g. "1.13.0"
  bool cuda;          // a CUDA device is usable now
  int cudaDevices;
  int threads;        // intra-op threads
};

Info info();
void setNumThreads(int n);
// Keeps OpenBLAS (when it is the BLAS LibTorch calls) on the calling thread. Debian 12's threaded OpenBLAS
// 0.3.21 intermittently gave NaN gradients in InvFussion training with 2 BLAS threads, never with 1;
// LibTorch's own intra-op pool (setNumThreads) still parallelises around BLAS calls.
void singleThreadedBlas();

}  // namespace invdiff::backend
