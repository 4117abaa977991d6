#include "core/memory.h"

#include <atomic>
#include <cstring>

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <torch/version.h>
#ifdef INVDIFF_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

namespace invdiff::memory {
namespace {

std::atomic<int64_t> liveBytes{0};
std::atomic<int64_t> peakBytes{0};

void noteAllocated(int64_t n) {
  const int64_t now = liveBytes.fetch_add(n, std::memory_order_relaxed) + n;
  int64_t peak = peakBytes.load(std::memory_order_relaxed);
  while (now > peak && !peakBytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

// Owns the inner allocator's DataPtr so freeing goes through the inner deleter after we count it.
struct CountedBlock {
  c10::DataPtr inner;
  int64_t size;
};

void releaseCounted(void* ctx) {
  auto* block = static_cast<CountedBlock*>(ctx);
  liveBytes.fetch_sub(block->size, std::memory_order_relaxed);
  delete block;
}

class CountingAllocator final : public c10::Allocator {
 public:
  explicit CountingAllocator(c10::Allocator* inner) : inner_(inner) {}

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  c10::DataPtr allocate(size_t n) override { return wrap(n); }  // non-const since LibTorch 2.3
#else
  c10::DataPtr allocate(size_t n) const override { return wrap(n); }
#endif

  // Pure virtual from LibTorch 2.3 on; an ordinary member before, hence no `override`.
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

 private:
  c10::DataPtr wrap(size_t n) const {
    c10::DataPtr inner = inner_->allocate(n);
    void* data = inner.get();
    const c10::Device device = inner.device();
    auto* block = new CountedBlock{std::move(inner), static_cast<int64_t>(n)};
    noteAllocated(block->size);
    return c10::DataPtr(data, block, &releaseCounted, device);
  }

  c10::Allocator* inner_;
};

}  // namespace

void install() {
  static CountingAllocator* counting = [] {
    auto* a = new CountingAllocator(c10::GetCPUAllocator());
    // Highest priority so a later default registration cannot replace it.
    c10::SetCPUAllocator(a, /*priority=*/UINT8_MAX);
    return a;
  }();
  (void)counting;
}

Stats cpu() {
  return {liveBytes.load(std::memory_order_relaxed), peakBytes.load(std::memory_order_relaxed)};
}

Stats cuda(int device) {
#ifdef INVDIFF_CUDA
  using namespace c10::cuda::CUDACachingAllocator;
  const auto stats = getDeviceStats(device);
  const auto& bytes = stats.allocated_bytes[static_cast<size_t>(StatType::AGGREGATE)];
  return {bytes.current, bytes.peak};
#else
  (void)device;
  return {0, 0};
#endif
}

void resetPeak() {
  peakBytes.store(liveBytes.load(std::memory_order_relaxed), std::memory_order_relaxed);
#ifdef INVDIFF_CUDA
  for (int d = 0; d < static_cast<int>(c10::cuda::device_count()); ++d) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(d);
  }
#endif
}

}  // namespace invdiff::memory
