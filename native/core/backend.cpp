#include "core/backend.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <torch/cuda.h>
#include <torch/version.h>

namespace invdiff::backend {

namespace {

// A function of the BLAS LibTorch was linked against, or null. The addon is loaded without RTLD_GLOBAL, so
// its libraries are searched through its own handle (dlsym follows the dependency tree); an executable's are
// global.
void* blasFunction(const char* name) {
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&blasFunction), &self) && self.dli_fname) {
    if (void* handle = dlopen(self.dli_fname, RTLD_LAZY | RTLD_NOLOAD)) {
      void* found = dlsym(handle, name);
      dlclose(handle);  // only drops the reference RTLD_NOLOAD took
      if (found) return found;
    }
  }
  return dlsym(RTLD_DEFAULT, name);
}

}  // namespace

void setNumThreads(int n) {
  at::set_num_threads(n);
  // Debian's LibTorch multiplies matrices in the system OpenBLAS, whose own thread pool ignores
  // at::set_num_threads: without this a one-thread run still computes every GEMM on all the cores (and its
  // idle workers spin on sched_yield). MKL builds need nothing: at::set_num_threads sets MKL's count.
  using Setter = void (*)(int);
  static const auto openblas = reinterpret_cast<Setter>(blasFunction("openblas_set_num_threads"));
  if (openblas) openblas(n);
}

Info info() {
  const bool cuda = torch::cuda::is_available();
  static const auto threads = reinterpret_cast<int (*)()>(blasFunction("openblas_get_num_threads"));
  static const auto core = reinterpret_cast<const char* (*)()>(blasFunction("openblas_get_corename"));
  const char* name = core ? core() : nullptr;
  return {TORCH_VERSION, cuda, cuda ? static_cast<int>(torch::cuda::device_count()) : 0, at::get_num_threads(),
          threads ? threads() : -1, name ? name : ""};
}

}  // namespace invdiff::backend
