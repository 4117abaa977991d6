// What LibTorch this build runs on, and its thread pool.
#pragma once
#include <string>

namespace invdiff::backend {

struct Info {
  std::string torch;  // LibTorch version, e.g. "1.13.0"
  bool cuda;          // a CUDA device is usable now
  int cudaDevices;
  int threads;        // intra-op threads
  int blasThreads;    // OpenBLAS's own pool (set with the intra-op threads); -1 where the BLAS is not OpenBLAS
  std::string blasCore;  // the CPU OpenBLAS chose kernels for, e.g. "SkylakeX"; empty where not OpenBLAS
};

Info info();
void setNumThreads(int n);

}  // namespace invdiff::backend
