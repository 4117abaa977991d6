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

}  // namespace invdiff::memory
