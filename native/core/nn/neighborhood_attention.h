// Neighbourhood attention with NATTEN's semantics (Hassani et al., "Neighborhood Attention Transformer",
// 2023; used by HDiT and InvFusion, papers.md §2.4 and §2.11). Each query attends over a κ×κ window of keys
// whose start on an axis of length L is clamp(i − κ//2, 0, L − κ): every query sees exactly κ² keys, and
// the windows of border queries shift inward instead of being padded.
#pragma once
#include <cstdint>

#include <ATen/ATen.h>
#include <c10/util/Optional.h>

namespace invdiff::nn {

// softmax(q·kᵀ·scale)·v over each query's window, on (B, heads, H, W, d) tensors; scale defaults to 1/√d.
// With several key/value sets over the same windows (InvFusion's joint attention: k, v and k′, v′) the
// logits of all sets share one softmax (2κ² logits for two sets) and the weighted values are summed.
// float32/float64; differentiable. A custom kernel whose backward keeps only the attention weights, on the CPU
// and, where the build compiled core/cuda (nvcc), on CUDA; other devices run neighborhoodAttentionByGather.
// Errors name the argument: query, key/value (the first set), key2/value2 (the second), kernelSize, scale.
at::Tensor neighborhoodAttention(const at::Tensor& query, at::TensorList keys, at::TensorList values, int64_t kernelSize,
                                 c10::optional<double> scale = c10::nullopt);

// The same attention from ATen ops on any device: each window's keys and values gathered into (H·W, κ²)
// slots, a batched product, one softmax, autograd by ATen. κ²·d floats per query and set in memory.
at::Tensor neighborhoodAttentionByGather(const at::Tensor& query, at::TensorList keys, at::TensorList values, int64_t kernelSize,
                                         c10::optional<double> scale = c10::nullopt);

}  // namespace invdiff::nn
