// Neighbourhood attention on CUDA tensors: one thread per query (forward, the query half of backward) or per
// key (the key half), running core/nn/neighborhood_attention_kernel.h. Compiled only where CMake finds nvcc
// and a CUDA LibTorch (INVDIFF_CUDA_KERNELS); called by core/nn/neighborhood_attention.cpp, which checks the
// arguments and owns the autograd Function. Tensors contiguous, on one device, float32 or float64; at most
// na::kMaxDeviceSets key/value sets.
#pragma once
#include <vector>

#include <ATen/ATen.h>

#include "core/nn/neighborhood_attention_kernel.h"

namespace invdiff::cuda {

// out and weights are allocated by the caller: (tokens, d) and (tokens, sets·κ²).
void neighborhoodAttentionForward(const nn::na::Shape& g, const at::Tensor& query, at::TensorList keys, at::TensorList values, double scale,
                                  at::Tensor& out, at::Tensor& weights);

// dScores, dq and each dk/dv allocated by the caller with the shapes of weights and query.
void neighborhoodAttentionBackward(const nn::na::Shape& g, const at::Tensor& query, at::TensorList keys, at::TensorList values,
                                   const at::Tensor& dOut, const at::Tensor& weights, double scale, at::Tensor& dScores, at::Tensor& dq,
                                   std::vector<at::Tensor>& dk, std::vector<at::Tensor>& dv);

}  // namespace invdiff::cuda
