// IDM's noise-estimation U-Net (papers.md §1.4–1.6): pixel-unshuffled input, resnet and self-attention
// blocks run as reversible couplings on a duplicated stream, measurement injectors around every attention
// block, skips, pixel-shuffled output. No time embedding, except when initialised from an EDM prior of the
// project, whose noise embedding it keeps (fed the chain's own noise levels). Parameter names follow Stable Diffusion 1.5's
// diffusers naming where a layer has an SD counterpart, so SD weights load by name.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "core/operators/operator.h"
#include "core/options.h"

namespace invdiff::idm {

// What the injectors read. Aᵀy enters every reversible sequence as a side input, so gradients reach y.
struct Measurement {
  std::shared_ptr<const operators::Operator> op;
  at::Tensor adjointY;
};

struct UNetConfig {
  int64_t imageChannels = 1;
  int64_t steps = 3;  // injectors keep one weight set per sampling step
  int64_t channels = 32;
  std::vector<int64_t> multipliers{1, 2};
  int64_t blocks = 2;               // channel-preserving blocks per level (up levels add one that merges the skip)
  std::vector<int64_t> attention;   // per level: 1 = self-attention blocks (with injectors) there
  int64_t heads = 4;
  int64_t attentionChunk = 512;    // queries per attention block, bounding its memory on large images
  int64_t groups = 8;               // GroupNorm groups
  double dropout = 0;
  bool blockSkips = false;          // SD's skip per block (memory grows with depth) instead of one per level
  bool duplicateBottleneck = false; // SD's up path expects twice the bottleneck width (§1.4)
  bool reversible = true;           // false: stored activations, same parameters and results
  // Training: the last keepSteps steps of the chain keep their U-Net's graph from forward (with reversible
  // blocks, only the tensors between its sequences and checkpoints), so backward does not run them again.
  // Two cut a T = 3 step from 1.74× to 1.42× the stored-activation time for +16% memory (README, IDM).
  int64_t keepSteps = 2;
  // The chain's output projected onto {x : A x = y} (x̂ − A⁺(A x̂ − y)), as each step's x̂₀ is: the couplings
  // mix that x̂₀ with the other stream, so without it the output is not consistent with y. Noiseless operators only.
  bool finalProjection = true;
  // 'eps': the network outputs ε (as SD's). 'edm': it is an EDM denoiser F with the prior's noise embedding and
  // preconditioning (σ_data), and ε follows from D(x; σ) at the step's σ = √((1 − ᾱ)/ᾱ).
  bool edm = false;
  double sigmaData = 0.5;

  static UNetConfig from(const Options& o);
  int64_t levels() const { return static_cast<int64_t>(multipliers.size()); }
  // H and W of the image must be multiples of this.
  int64_t sizeMultiple() const;
};

class UNet : public torch::nn::Module {
 public:
  explicit UNet(const UNetConfig& config);
  // The network output for input x at sampling step t (1-based), with the measurement for the injectors:
  // ε, or with an EDM configuration F(x, c_noise) for c_noise (one per image) of the step.
  at::Tensor forward(const at::Tensor& x, int64_t step, const Measurement& m, const at::Tensor& cNoise = {});
  const UNetConfig& config() const { return config_; }

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
  UNetConfig config_;
};

}  // namespace invdiff::idm
