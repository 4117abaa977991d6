#include "core/backend.h"

#include <dlfcn.h>

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

namespace invdiff::backend {

Info info() {
  const bool cuda = torch::cuda::is_available();
  return {TORCH_VERSION, cuda, cuda ? static_cast<int>(torch::cuda::device_count()) : 0, at::get_num_threads()};
}

void setNumThreads(int n) { at::set_num_threads(n); }

void singleThreadedBlas() {
  // Looked up, not linked: the BLAS is whichever LibTorch was built against (MKL ignores this).
  using SetThreads = void (*)(int);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(1);
}

}  // namespace invdiff::backend
