#include "core/memory.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>
#include <c10/util/Exception.h>
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

// The AllocationLimit of this thread: bytes allocated minus bytes freed on it since the limit began.
struct ThreadLimit {
  bool active = false;
  int64_t limit = 0;
  int64_t used = 0;
};
thread_local ThreadLimit threadLimit;

// Blocks carry their size in a header just before the data, so the data pointer is also the DataPtr's
// context: LibTorch's raw_allocate/raw_deallocate paths (some convolutions use them) require that.
constexpr size_t kAlignment = 64;  // what LibTorch's own CPU allocator guarantees (AVX-512 loads)

void release(void* data) {
  if (!data) return;
  char* base = static_cast<char*>(data) - kAlignment;
  int64_t size;
  std::memcpy(&size, base, sizeof size);
  liveBytes.fetch_sub(size, std::memory_order_relaxed);
  if (threadLimit.active) threadLimit.used -= size;
  std::free(base);
}

class CountingAllocator final : public c10::Allocator {
 public:
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
  c10::DataPtr allocate(size_t n) override { return make(n); }  // non-const since LibTorch 2.3
#else
  c10::DataPtr allocate(size_t n) const override { return make(n); }
#endif
  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  // Pure virtual from LibTorch 2.3 on; an ordinary member before, hence no `override`.
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

 private:
  static c10::DataPtr make(size_t n) {
    if (n == 0) return c10::DataPtr(nullptr, nullptr, &release, c10::Device(c10::DeviceType::CPU));
    ThreadLimit& limit = threadLimit;
    TORCH_CHECK(!limit.active || limit.used + static_cast<int64_t>(n) <= limit.limit, "CPU allocator: ", n, " more bytes would pass the allocation limit of ",
                limit.limit, " bytes (", limit.used, " in use under it)");
    void* base = nullptr;
    const int rc = posix_memalign(&base, kAlignment, n + kAlignment);
    TORCH_CHECK(rc == 0 && base, "CPU allocator: cannot allocate ", n, " bytes (out of memory)");
    const int64_t size = static_cast<int64_t>(n);
    std::memcpy(base, &size, sizeof size);
    noteAllocated(size);
    if (limit.active) limit.used += size;
    void* data = static_cast<char*>(base) + kAlignment;
    return c10::DataPtr(data, data, &release, c10::Device(c10::DeviceType::CPU));
  }
};

}  // namespace

void install() {
  static CountingAllocator* counting = [] {
#ifdef __GLIBC__
    // Keep freed tensor blocks in the heap instead of unmapping them: glibc maps blocks above its dynamic
    // threshold afresh on every allocation, and the kernel zeroing those pages made an IDM reconstruction
    // 1.7× slower. INVDIFF_MALLOC_DEFAULT=1 keeps glibc's own policy.
    const char* keep = std::getenv("INVDIFF_MALLOC_DEFAULT");
    if (!keep || std::strcmp(keep, "1") != 0) {
      mallopt(M_MMAP_THRESHOLD, 32 << 20);  // glibc's maximum on 64-bit systems
      mallopt(M_TRIM_THRESHOLD, 1 << 30);
    }
#endif
    auto* a = new CountingAllocator();
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

AllocationLimit::AllocationLimit(int64_t bytes) {
  TORCH_CHECK(!threadLimit.active, "AllocationLimit: limits do not nest");
  threadLimit = {true, bytes, 0};
}

AllocationLimit::~AllocationLimit() { threadLimit = {}; }

}  // namespace invdiff::memory
