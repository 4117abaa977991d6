// InvFusion's Feature Degradation layer (papers.md §2.3, §2.11): FD(a) = Patch(A⁺(GELU(T([y; A·Unpatch(a)])))).
// The residual-stream tokens entering a transformer layer, (B, h, w, W) at patch size P = H/h, are read as a
// stack of K = W/(P²·C) images, degraded by the context's operator, joined with y (first), mixed per
// measurement coordinate by a learned Linear(K+1 → K) with bias, passed through GELU, mapped back by the
// operator's network A⁺ (closed form, capped gain, float32 at least) and re-patched into ỹ.
#pragma once
#include <cstdint>

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

#include "core/operators/operator.h"

namespace invdiff::nn {

// (B, h, w, P·P·K·C) tokens ↔ (B, K, C, h·P, w·P) image stacks; the channels split as (P, P, K, C).
at::Tensor unpatchStack(const at::Tensor& tokens, int64_t patch, int64_t channels);
at::Tensor repatchStack(const at::Tensor& stack, int64_t patch);

struct FeatureDegradation : torch::nn::Module {
  // An error names the level when width is not a multiple of patch²·channels.
  FeatureDegradation(int64_t width, int64_t patch, int64_t channels, const std::string& where);
  // a: (B, h, w, W); y: (B, ...measurement shape) of op, whose batch is B or 1.
  at::Tensor forward(const at::Tensor& a, const operators::Operator& op, const at::Tensor& y);
  torch::nn::Linear mix{nullptr};

 private:
  int64_t patch_, channels_, stack_;
};

}  // namespace invdiff::nn
