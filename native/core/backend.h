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

}  // namespace invdiff::backend
