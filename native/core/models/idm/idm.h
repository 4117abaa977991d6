// IDM (papers.md §1.3): a T-step DDIM sampler with data consistency, unrolled into one reconstruction
// network whose steps form a reversible coupling chain, so training memory does not grow with T.
#pragma once
#include <memory>

#include "core/models/idm/unet.h"
#include "core/nn/module.h"

namespace invdiff::idm {

class Idm final : public Module {
 public:
  explicit Idm(const Options& options);
  // Takes no plain tensors: reconstruction needs the operator.
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& inputs) override;
  // x̂ from measurements y = A x: the chain started at √ᾱ_T·A⁺y.
  at::Tensor reconstruct(std::shared_ptr<const operators::Operator> op, const at::Tensor& y);
  // The contract's form of reconstruct: x and σ undefined (the chain starts from A⁺y at its own levels).
  at::Tensor denoise(const at::Tensor& x, const at::Tensor& sigma, const Context& context) override;
  Options info() const override;

 private:
  at::Tensor step(const at::Tensor& x, int64_t t, const std::shared_ptr<const operators::Operator>& op, const at::Tensor& y);
  UNetConfig config_;
  std::shared_ptr<UNet> unet_;
  at::Tensor alpha_, inputScale_, outputMerge_;
  std::vector<at::Tensor> logits_;
};

std::shared_ptr<Module> makeIdm(const Options& options);

}  // namespace invdiff::idm
