#include "core/backend.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/version.h>

namespace invdiff::backend {

Info info() {
  const bool cuda = torch::cuda::is_available();
  return {TORCH_VERSION, cuda, cuda ? static_cast<int>(torch::cuda::device_count()) : 0, at::get_num_threads()};
}

void setNumThreads(int n) { at::set_num_threads(n); }

}  // namespace invdiff::backend
