// C++ tests of the core library, without Node: the counting allocator, safetensors, the module table and
// (reversible_test.cpp) the reversible couplings and checkpoints, (feature_degradation_test.cpp) InvFusion's FD layer and joint attention, (distributed_test.cpp) the c10d process group.
// Built with -DINVDIFF_NATIVE_TESTS=ON; test/native.test.js builds and runs it.
#include <cstdio>
#include <cstdlib>
#include <string>

#include <ATen/ATen.h>
#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include "core/memory.h"
#include "core/models/registry.h"
#include "core/safetensors.h"
#include "expect.h"

int failures = 0, passes = 0;

int main() {
  invdiff::memory::install();

  {  // the allocator sees LibTorch's CPU allocations and their release
    const auto before = invdiff::memory::cpu();
    {
      at::Tensor t = at::zeros({256, 1024});  // 1 MiB
      EXPECT(invdiff::memory::cpu().bytes - before.bytes >= (1 << 20), "live bytes grow by the allocation");
    }
    EXPECT(invdiff::memory::cpu().bytes == before.bytes, "live bytes return after release");
    EXPECT(invdiff::memory::cpu().peakBytes >= before.bytes + (1 << 20), "peak remembers it");
  }

  {  // raw_allocate paths (used by some LibTorch kernels) need the data pointer to be the context
    c10::Allocator* a = c10::GetCPUAllocator();
    const auto before = invdiff::memory::cpu().bytes;
    void* p = a->raw_allocate(4096);
    EXPECT(p != nullptr && reinterpret_cast<uintptr_t>(p) % 64 == 0, "raw_allocate gives 64-byte aligned memory");
    EXPECT(invdiff::memory::cpu().bytes - before == 4096, "raw allocations are counted");
    a->raw_deallocate(p);
    EXPECT(invdiff::memory::cpu().bytes == before, "raw deallocation is counted");
  }

  {  // an allocation limit caps what this thread holds while it lives, and counts frees back
    bool refused = false;
    {
      const invdiff::memory::AllocationLimit limit(2 << 20);
      at::Tensor a = at::empty({1 << 18});  // 1 MiB of float32
      { at::Tensor b = at::empty({1 << 18}); }  // another, freed again
      try {
        at::Tensor c = at::empty({1 << 19});  // 2 MiB more would pass the limit
      } catch (const c10::Error& e) {
        refused = std::string(e.what()).find("allocation limit of 2097152 bytes") != std::string::npos;
      }
      at::Tensor d = at::empty({1 << 17});  // but half a MiB still fits
    }
    EXPECT(refused, "an allocation past the limit fails with a message naming it");
    at::Tensor big = at::empty({1 << 20});
    EXPECT(big.numel() == (1 << 20), "after the limit ends, allocations are unlimited again");
  }

  {  // safetensors round trip through the core alone
    const std::string path = std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/invdiff-core-test.safetensors";
    at::Tensor a = at::randn({3, 4}, at::kDouble);
    at::Tensor b = at::arange(6, at::kLong).reshape({2, 3});
    invdiff::safetensors::save(path, {{"a", a}, {"b", b}}, {{"k", "v"}});
    auto back = invdiff::safetensors::load(path);
    EXPECT(back.tensors.size() == 2, "two tensors come back");
    EXPECT(back.tensors[0].first == "a" && at::equal(back.tensors[0].second, a), "a round-trips");
    EXPECT(back.tensors[1].first == "b" && at::equal(back.tensors[1].second, b), "b round-trips");
    EXPECT(back.metadata.at("k") == "v", "metadata round-trips");
    std::remove(path.c_str());
  }

  {  // the module table builds working modules and rejects bad options
    invdiff::Options o;
    o.lists["sizes"] = {4, 8, 2};
    auto mlp = invdiff::createModule("mlp", o);
    EXPECT(mlp->forward({at::ones({5, 4})})[0].sizes() == at::IntArrayRef({5, 2}), "mlp output shape");
    EXPECT(mlp->named_parameters().size() == 4, "mlp has 4 parameters");
    bool threw = false;
    try {
      invdiff::createModule("nope", o);
    } catch (const std::invalid_argument&) {
      threw = true;
    }
    EXPECT(threw, "unknown kind throws");
  }

  reversibleTests();
  featureDegradationTests();
  distributedTests();

  std::printf("core_test (LibTorch %s): %d passed, %d failed\n", TORCH_VERSION, passes, failures);
  return failures ? 1 : 0;
}
