#include "core/distributed/gradients.h"

#include <stdexcept>
#include <string>

#include "core/distributed/buckets.h"

namespace invdiff::distributed {
namespace {

void checkBucketBytes(int64_t bucketBytes) {
  if (bucketBytes < 1) throw std::invalid_argument("argument 'bucketBytes' must be a positive number of bytes, got " + std::to_string(bucketBytes));
}

void checkSrc(const ProcessGroup& group, int64_t src) {
  if (src < 0 || src >= group.worldSize())
    throw std::invalid_argument("argument 'src' must be a rank in [0, " + std::to_string(group.worldSize() - 1) + "], got " + std::to_string(src));
}

// All buckets started before the first wait, so Gloo's threads work on several at once.
void broadcastNow(ProcessGroup& group, const std::vector<at::Tensor>& tensors, int64_t src, int64_t bucketBytes) {
  std::vector<Bucket> buckets = pack(tensors, bucketBytes);
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (Bucket& b : buckets) works.push_back(group.startBroadcast(b.flat, src));
  for (size_t i = 0; i < buckets.size(); ++i) {
    group.finish(works[i]);
    unpack(buckets[i], tensors);
  }
}

}  // namespace

uint64_t averageGradients(ProcessGroup& group, std::vector<at::Tensor> params, int64_t bucketBytes) {
  checkBucketBytes(bucketBytes);
  return group.submit("averageGradients", [&group, params = std::move(params), bucketBytes] {
    std::vector<at::Tensor> grads;
    for (const at::Tensor& p : params) {
      if (!p.requires_grad()) continue;
      if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
      grads.push_back(p.grad());
    }
    std::vector<Bucket> buckets = pack(grads, bucketBytes);
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (Bucket& b : buckets) works.push_back(group.startAllReduce(b.flat, ReduceOp::Sum));
    for (size_t i = 0; i < buckets.size(); ++i) {
      group.finish(works[i]);
      buckets[i].flat.div_(group.worldSize());
      unpack(buckets[i], grads);
    }
  });
}

uint64_t broadcastTensors(ProcessGroup& group, std::vector<at::Tensor> tensors, int64_t src, int64_t bucketBytes) {
  checkSrc(group, src);
  checkBucketBytes(bucketBytes);
  return group.submit("broadcast", [&group, tensors = std::move(tensors), src, bucketBytes] { broadcastNow(group, tensors, src, bucketBytes); });
}

uint64_t broadcastModule(ProcessGroup& group, std::shared_ptr<torch::nn::Module> module, int64_t src, int64_t bucketBytes) {
  checkSrc(group, src);
  checkBucketBytes(bucketBytes);
  return group.submit("broadcastModule", [&group, module = std::move(module), src, bucketBytes] {
    std::vector<at::Tensor> state = module->parameters();
    for (const at::Tensor& b : module->buffers()) state.push_back(b);
    broadcastNow(group, state, src, bucketBytes);
  });
}

}  // namespace invdiff::distributed
