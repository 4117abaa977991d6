// Native modules: LibTorch modules with one calling convention (tensors in, tensors out) so the binding
// can expose every kind through one table. Later networks (U-Nets, IDM, InvFussion) register here too.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/nn/module.h>

namespace invdiff {

// Options of a module kind, as the caller gave them (numbers, integer lists, strings, flags).
struct Options {
  std::map<std::string, double> numbers;
  std::map<std::string, std::vector<int64_t>> lists;
  std::map<std::string, std::string> strings;
  std::map<std::string, bool> flags;

  int64_t integer(const std::string& kind, const std::string& key) const;           // required
  int64_t integer(const std::string& kind, const std::string& key, int64_t fallback) const;
  double number(const std::string& kind, const std::string& key, double fallback) const;
  std::vector<int64_t> list(const std::string& kind, const std::string& key) const;  // required
  bool flag(const std::string& key, bool fallback) const;
  std::string string(const std::string& key, const std::string& fallback) const;
};

class Module : public torch::nn::Module {
 public:
  virtual std::vector<at::Tensor> forward(const std::vector<at::Tensor>& inputs) = 0;
  // How many tensors forward takes, for a clear error before LibTorch's.
  virtual size_t arity() const { return 1; }
};

std::shared_ptr<Module> createModule(const std::string& kind, const Options& options);
std::vector<std::string> moduleKinds();

}  // namespace invdiff
