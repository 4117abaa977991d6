// HDiT's transformer layer (papers.md §4.2, k-diffusion's ImageTransformerDenoiserModelV2) with InvFusion's
// joint attention (§2.4, §2.11): tokens are channels-last (B, h, w, W) and every norm is conditioned on the
// mapping network's output. With `joint`, the layer also reads ỹ, the Feature Degradation layer's output.
#pragma once
#include <cstdint>

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/linear.h>

namespace invdiff::nn {

// x / rms(x) · scale over the last axis.
at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& scale, double eps = 1e-6);

// RMSNorm with a learned gain (mapping network, output).
struct RMSNorm : torch::nn::Module {
  explicit RMSNorm(int64_t width);
  at::Tensor forward(const at::Tensor& x);
  at::Tensor scale;
};

// RMSNorm whose gain is 1 + Linear(cond), the linear bias-free and zero-initialised.
struct AdaRMSNorm : torch::nn::Module {
  AdaRMSNorm(int64_t width, int64_t condWidth);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& cond);  // x: (B, …, W), cond: (B, condWidth)
  torch::nn::Linear linear{nullptr};
};

// Linear(in → 2·hidden) whose second half gates the first through GELU.
at::Tensor geglu(const at::Tensor& x, torch::nn::Linear& proj);

// Token positions for axial RoPE: the centres of an h×w grid on [−1, 1]², shaped (h, w, 2). Averaging 2×2
// groups of a level's centres gives the next level's, as HDiT's merge does.
at::Tensor gridPositions(int64_t h, int64_t w, const at::TensorOptions& options);

struct TransformerLayerConfig {
  int64_t width, condWidth, headDim, hidden;  // hidden: the feed-forward's width
  int64_t kernelSize;  // neighbourhood attention window; 0 (or a side shorter than it) means global attention
  bool joint;          // InvFusion's joint keys and values from ỹ
  double dropout;
};

struct TransformerLayer : torch::nn::Module {
  explicit TransformerLayer(const TransformerLayerConfig& config);
  // x: (B, h, w, W); positions: (h, w, 2); cond: (B, condWidth); yTilde: (B, h, w, W), or undefined for ỹ = 0.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& positions, const at::Tensor& cond, const at::Tensor& yTilde = {});

 private:
  at::Tensor attention(const at::Tensor& x, const at::Tensor& positions, const at::Tensor& cond, const at::Tensor& yTilde);
  // (B, h, w, W) projections → heads (B, nh, h, w, d), cosine-normalised with the per-head scale and rotated.
  at::Tensor keyLike(const at::Tensor& t, const at::Tensor& theta) const;
  at::Tensor heads(const at::Tensor& t) const;

  TransformerLayerConfig c_;
  int64_t heads_;
  std::shared_ptr<AdaRMSNorm> norm_, jointNorm_, ffNorm_;
  torch::nn::Linear qkv_{nullptr}, jointKey_{nullptr}, jointValue_{nullptr}, out_{nullptr}, up_{nullptr}, down_{nullptr};
  at::Tensor scale_;        // per head, initialised to 10
  at::Tensor frequencies_;  // axial RoPE: (heads, headDim/8), fixed
};

}  // namespace invdiff::nn
