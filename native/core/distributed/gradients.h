// The two collectives of data-parallel training, over buckets: averaging the gradients after backward
// (DDP's allreduce, here after the whole backward rather than overlapped with it), and broadcasting a
// module's parameters and buffers from one rank so that every replica starts alike.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "core/distributed/process_group.h"

namespace invdiff::distributed {

// 25 MiB, DDP's default bucket size.
constexpr int64_t kDefaultBucketBytes = int64_t(25) << 20;

// Queues: each parameter's gradient ← the mean over ranks (a parameter without one gets zeros first, so
// every rank packs the same buckets). Returns the ticket.
uint64_t averageGradients(ProcessGroup& group, std::vector<at::Tensor> params, int64_t bucketBytes);
// Queues: the tensors' values ← those of rank src.
uint64_t broadcastTensors(ProcessGroup& group, std::vector<at::Tensor> tensors, int64_t src, int64_t bucketBytes);
// Queues: the module's parameters and buffers ← those of rank src.
uint64_t broadcastModule(ProcessGroup& group, std::shared_ptr<torch::nn::Module> module, int64_t src, int64_t bucketBytes);

}  // namespace invdiff::distributed
