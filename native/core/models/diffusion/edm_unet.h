// Diffusion denoisers on a noise-conditional U-Net with EDM preconditioning (papers.md §4.1):
// D(x; σ) = c_skip·x + c_out·F(c_in·x, ¼ ln σ). The 'unconditional' kind is the prior of the zero-shot
// samplers; the 'palette' kind also reads A⁺y concatenated to its input, unscaled (§2.6's baseline).
#pragma once
#include <memory>
#include <vector>

#include "core/nn/module.h"

namespace invdiff::diffusion {

struct EdmUNetConfig {
  int64_t imageChannels = 1;
  int64_t conditionChannels = 0;  // channels of A⁺y read beside x (0: unconditional)
  int64_t channels = 32;
  std::vector<int64_t> multipliers{1, 2, 2};
  int64_t blocks = 1;              // resnet blocks per down level (up levels have one more)
  std::vector<int64_t> attention;  // per level: 1 = self-attention after each resnet; default the last level
  int64_t heads = 4;
  int64_t attentionChunk = 1024;
  int64_t groups = 8;
  int64_t patch = 2;  // pixel-unshuffle factor at the input: a quarter of the pixels for a CPU budget
  double dropout = 0;
  double sigmaData = 0.5;
  int64_t imageSize = 64;  // the side the network is built and trained for (any multiple of sizeMultiple runs)

  static EdmUNetConfig from(const std::string& kind, const Options& o);
  int64_t sizeMultiple() const { return patch << (multipliers.size() - 1); }
};

class EdmUNet final : public Module {
 public:
  EdmUNet(const std::string& kind, const Options& options);
  // inputs: x (N×C×H×W), σ (one value or one per image), and A⁺y for a conditional kind → D(x; σ).
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& inputs) override;
  size_t arity() const override { return config_.conditionChannels > 0 ? 3 : 2; }
  // D(x; σ) for 'unconditional' (the context is ignored), D(x; σ, A⁺y) for 'palette', A⁺y from the context.
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, const Context& context) override;
  Options info() const override;

 private:
  at::Tensor network(const at::Tensor& input, const at::Tensor& noise);
  struct Impl;
  std::shared_ptr<Impl> impl_;
  EdmUNetConfig config_;
  std::string kind_;
};

std::shared_ptr<Module> makeUnconditional(const Options& options);
std::shared_ptr<Module> makePalette(const Options& options);

}  // namespace invdiff::diffusion
