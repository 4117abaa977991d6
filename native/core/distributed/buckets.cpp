#include "core/distributed/buckets.h"

namespace invdiff::distributed {

std::vector<Bucket> pack(const std::vector<at::Tensor>& tensors, int64_t maxBytes) {
  std::vector<Bucket> buckets;
  int64_t bytes = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const at::Tensor& t = tensors[i];
    const int64_t size = t.numel() * static_cast<int64_t>(t.element_size());
    const bool fits = !buckets.empty() && bytes + size <= maxBytes && tensors[buckets.back().members.front()].options().type_equal(t.options());
    if (!fits) {
      buckets.emplace_back();
      bytes = 0;
    }
    buckets.back().members.push_back(i);
    bytes += size;
  }
  for (Bucket& b : buckets) {
    std::vector<at::Tensor> parts;
    for (size_t i : b.members) parts.push_back(tensors[i].reshape({-1}));
    b.flat = at::cat(parts);
  }
  return buckets;
}

void unpack(const Bucket& bucket, const std::vector<at::Tensor>& tensors) {
  int64_t offset = 0;
  for (size_t i : bucket.members) {
    const at::Tensor& t = tensors[i];
    t.copy_(bucket.flat.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

}  // namespace invdiff::distributed
