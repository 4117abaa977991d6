// Counting CPU allocator: live and peak bytes of every CPU tensor LibTorch allocates.
#pragma once
#include <cstdint>

namespace invdiff::memory {

struct Stats {
  int64_t bytes;      // live bytes now
  int64_t peakBytes;  // highest live bytes since the last resetPeak()
};

// Wraps LibTorch's CPU allocator once; later calls do nothing.
void install();
Stats cpu();
// CUDA statistics from the caching allocator; zeros when CUDA is absent.
Stats cuda(int device);
void resetPeak();

// While one is alive, the CPU allocations made on its thread may hold at most `bytes` at once (counting
// from zero when it begins); the one that would exceed it fails as an out-of-memory does, with a message
// naming the limit. Loaders build a model from a file's options under one, so untrusted options cannot ask
// for more memory than the file's own tensors justify. Limits do not nest.
class AllocationLimit {
 public:
  explicit AllocationLimit(int64_t bytes);
  ~AllocationLimit();
  AllocationLimit(const AllocationLimit&) = delete;
  AllocationLimit& operator=(const AllocationLimit&) = delete;
};

}  // namespace invdiff::memory
