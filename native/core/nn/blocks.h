// Network pieces shared by IDM's U-Net and the diffusion denoisers, in Stable Diffusion's diffusers naming
// (down_blocks.0.resnets.1.conv1.weight), so weights map by name.
#pragma once
#include <memory>
#include <string>

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>

namespace invdiff::nn {

// A named node with children only, so names nest as in diffusers.
struct Group : torch::nn::Module {};

template <class M>
std::shared_ptr<M> child(torch::nn::Module& parent, const std::string& name, std::shared_ptr<M> m) {
  return parent.register_module(name, std::move(m));
}
std::shared_ptr<Group> group(torch::nn::Module& parent, const std::string& name);
torch::nn::Conv2d conv(torch::nn::Module& parent, const std::string& name, int64_t in, int64_t out, int64_t size, int64_t stride = 1);
torch::nn::GroupNorm norm(torch::nn::Module& parent, const std::string& name, int64_t groups, int64_t channels, double eps);
torch::nn::Linear linear(torch::nn::Module& parent, const std::string& name, int64_t in, int64_t out, bool bias = true);
// A residual branch's last layer starts at zero, so every block starts as the identity.
void zeroInit(torch::nn::Module& m);

// The U-Net noise embedding: Fourier features of c_noise = ¼ ln σ at geometric frequencies from 0.05 to 200
// rad (which spans about 3 over σ ∈ [0.002, 80]), then linear_1 → SiLU → linear_2 to 4 × channels.
struct NoiseEmbedding : torch::nn::Module {
  explicit NoiseEmbedding(int64_t channels);
  // One c_noise per image (n) → n × 4·channels.
  at::Tensor forward(const at::Tensor& cNoise);
  int64_t width() const { return 4 * channels_; }
  int64_t channels_;
  at::Tensor frequencies;  // fixed, so a saved model needs no buffer
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
};

// GN → SiLU → conv → [+ embedding] → GN → SiLU → dropout → conv, plus a (1×1 when channels change) shortcut.
// With embedding channels it adds time_emb_proj(SiLU(emb)) per channel, as SD does; IDM has none.
struct ResnetBlock : torch::nn::Module {
  ResnetBlock(int64_t in, int64_t out, int64_t groups, double dropout, int64_t embedding = 0);
  at::Tensor forward(const at::Tensor& x, const at::Tensor& embedding = {});
  torch::nn::GroupNorm norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, shortcut{nullptr};
  torch::nn::Linear embed{nullptr};
  double dropout_;
};

// SD's Transformer2D without cross-attention: GN → 1×1 → [self-attention, GEGLU feed-forward] → 1×1, residual.
// Queries run in chunks of `chunk`, bounding the attention matrix on large images without changing results.
struct Transformer : torch::nn::Module {
  Transformer(int64_t channels, int64_t groups, int64_t heads, int64_t chunk);
  at::Tensor forward(const at::Tensor& x);
  int64_t heads_, chunk_;
  torch::nn::GroupNorm norm_{nullptr};
  torch::nn::Conv2d projIn{nullptr}, projOut{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm3{nullptr};
  torch::nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, out{nullptr}, geglu{nullptr}, down{nullptr};
};

}  // namespace invdiff::nn
