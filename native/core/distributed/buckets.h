// Tensors packed into flat buckets for collectives: one collective per bucket instead of one per tensor,
// in a fixed order that every rank derives alike from the same list of tensors.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace invdiff::distributed {

struct Bucket {
  std::vector<size_t> members;  // indices into the packed list, in order
  at::Tensor flat;              // their values end to end
};

// Consecutive tensors of one dtype and device share a bucket of at most maxBytes (a bigger tensor gets one of
// its own; maxBytes > 0). The values are copied in.
std::vector<Bucket> pack(const std::vector<at::Tensor>& tensors, int64_t maxBytes);
// Copies a bucket's values back into its tensors.
void unpack(const Bucket& bucket, const std::vector<at::Tensor>& tensors);

}  // namespace invdiff::distributed
