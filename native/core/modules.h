// Native modules: LibTorch modules with one calling convention (tensors in, tensors out) so the binding
// can expose every kind through one table. Later networks (U-Nets, IDM, InvFussion) register here too.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "core/options.h"

namespace invdiff {

class Module : public torch::nn::Module {
 public:
  virtual std::vector<at::Tensor> forward(const std::vector<at::Tensor>& inputs) = 0;
  // How many tensors forward takes, for a clear error before LibTorch's.
  virtual size_t arity() const { return 1; }
};

std::shared_ptr<Module> createModule(const std::string& kind, const Options& options);
std::vector<std::string> moduleKinds();

}  // namespace invdiff
