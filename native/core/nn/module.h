// The Module base: LibTorch modules with one calling convention (tensors in, tensors out), so the binding
// exposes every kind (models/registry.h) through the same rows, and the one model contract, denoise.
#pragma once
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "core/operators/operator.h"
#include "core/options.h"

namespace invdiff {

// What a model sees of the measurement: the operator and y, both empty for an unconditional call.
struct Context {
  std::shared_ptr<const operators::Operator> op;
  at::Tensor y;
};

class Module : public torch::nn::Module {
 public:
  virtual std::vector<at::Tensor> forward(const std::vector<at::Tensor>& inputs) = 0;
  // How many tensors forward takes, for a clear error before LibTorch's.
  virtual size_t arity() const { return 1; }
  // Facts the TS layer reads instead of recomputing them: arity; networks add sizeMultiple (image height
  // and width must be multiples of it) and imageChannels.
  // The model contract every network serves through one binding row: x̂₀ for x at noise level σ (one value
  // or one per image), given the measurement. Unconditional denoisers ignore the context, Palette reads
  // A⁺y from it, IDM runs its whole chain from y (x and σ undefined: the chain has its own start and levels).
  virtual at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, const Context& context);
  // EDM2's learned log-variance u(σ) of the loss weighting λ(σ)/e^u·‖D − x‖² + u (papers.md §2.6), one
  // value per σ, for networks that learn it.
  virtual at::Tensor logVariance(const at::Tensor& sigma);
  virtual Options info() const {
    Options facts;
    facts.numbers["arity"] = static_cast<double>(arity());
    return facts;
  }
};

// Layers are not denoisers.
inline at::Tensor Module::denoise(const at::Tensor&, const at::Tensor&, const Context&) {
  throw std::invalid_argument("this module is not a denoiser (a layer; denoise serves networks such as unconditional, palette and idm)");
}

inline at::Tensor Module::logVariance(const at::Tensor&) {
  throw std::invalid_argument("this module has no learned loss weighting (logVariance serves the HDiT networks: invfussion, and unconditional or palette with architecture 'hdit')");
}

}  // namespace invdiff
