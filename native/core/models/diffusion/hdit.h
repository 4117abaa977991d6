// The hourglass diffusion transformer (HDiT, papers.md §4.2) in its three conditionings, from one code path,
// so the models compared differ only in how they see the measurement (§2.6):
//   'none'       unconditional prior (kind unconditional, architecture 'hdit'): reads x only;
//   'palette'    degradation-blind (kind palette, architecture 'hdit'): reads A⁺y beside x;
//   'invfussion' InvFusion (kind invfussion): reads A⁺y beside x, and every transformer layer of the levels
//                with featureDegradation set sees ỹ = FD(layer input; A, y) through joint attention (§2.3–2.5).
// EDM preconditioning (precond.h) and EDM2's learned log-variance u(σ) for the loss.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/nn/module.h"

namespace invdiff::diffusion {

struct HditConfig {
  std::string conditioning;  // none | palette | invfussion
  int64_t imageChannels = 1;
  int64_t patch = 2;                      // pixel patch per token at the first level
  std::vector<int64_t> widths{64, 128};   // per level
  std::vector<int64_t> depths{2, 4};      // per level: encoder layers (and as many decoder layers); the last is the middle
  std::vector<int64_t> kernelSizes{7, 0};  // per level: neighbourhood attention window, 0 for global attention
  std::vector<int64_t> featureDegradation;  // per level, 0/1 (invfussion): default every level where widths divide
  int64_t headDim = 32;
  double ffMultiple = 3;  // feed-forward width = ffMultiple · width
  int64_t mappingWidth = 256, mappingDepth = 2, mappingHidden = 768;
  double dropout = 0;
  double sigmaData = 0.5;
  int64_t imageSize = 32;  // the side the network is built and trained for (any multiple of sizeMultiple runs)

  // Presets: 'cpu32' (32×32 grayscale, widths [64, 128], depths [2, 4], NA-7 then global, head dim 32) and
  // 'ffhq64' (the paper's: 64×64 RGB, patch 2, widths [384, 768, 1536], depths [2, 2, 8], NA-7/NA-7/global,
  // head dim 64, dropout 0.05); any option overrides its preset.
  static HditConfig from(const std::string& kind, const std::string& conditioning, const Options& o);
  int64_t sizeMultiple() const { return patch << (widths.size() - 1); }
  int64_t inputChannels() const { return conditioning == "none" ? imageChannels : 2 * imageChannels; }
};

class Hdit final : public Module {
 public:
  Hdit(const std::string& kind, const std::string& conditioning, const Options& options);
  // inputs: x, σ, and A⁺y for palette → D(x; σ); invfussion's forward is its unconditional call (ỹ = 0, A⁺y = 0).
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& inputs) override;
  size_t arity() const override { return config_.conditioning == "palette" ? 3 : 2; }
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, const Context& context) override;
  at::Tensor logVariance(const at::Tensor& sigma) override;
  Options info() const override;

 private:
  at::Tensor run(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& pinvY, const Context* measured);
  at::Tensor network(const at::Tensor& input, const at::Tensor& noise, const Context* measured);
  struct Impl;
  std::shared_ptr<Impl> impl_;
  HditConfig config_;
  std::string kind_;
};

std::shared_ptr<Module> makeInvFussion(const Options& options);
// For kinds unconditional and palette with option architecture 'hdit'.
std::shared_ptr<Module> makeHdit(const std::string& kind, const Options& options);

}  // namespace invdiff::diffusion
