// The small layers any network or test builds on: linear, conv2d, groupNorm and an MLP, each a Module kind.
#include "core/nn/layers.h"

#include <cmath>
#include <stdexcept>

#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/init.h>

namespace invdiff::nn {
namespace {

int64_t positive(const Options& o, const std::string& kind, const std::string& key) {
  const int64_t v = o.integer(kind, key);
  if (v <= 0) throw std::invalid_argument(kind + ": option '" + key + "' must be positive");
  return v;
}

// Registers weight and bias under their plain names, initialised as LibTorch's own layers do.
class Linear final : public Module {
 public:
  explicit Linear(const Options& o) {
    const int64_t in = positive(o, "linear", "inFeatures"), out = positive(o, "linear", "outFeatures");
    torch::nn::Linear init(torch::nn::LinearOptions(in, out).bias(o.flag("linear", "bias", true)));
    weight_ = register_parameter("weight", init->weight.detach().clone());
    if (o.flag("linear", "bias", true)) bias_ = register_parameter("bias", init->bias.detach().clone());
  }
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& x) override { return {at::linear(x[0], weight_, bias_)}; }

 private:
  at::Tensor weight_, bias_;
};

class Conv2d final : public Module {
 public:
  explicit Conv2d(const Options& o) {
    const std::string k = "conv2d";
    const int64_t in = positive(o, k, "inChannels"), out = positive(o, k, "outChannels");
    const int64_t size = positive(o, k, "kernelSize");
    stride_ = o.integer(k, "stride", 1);
    padding_ = o.integer(k, "padding", 0);
    groups_ = o.integer(k, "groups", 1);
    if (stride_ < 1 || groups_ < 1 || in % groups_ || out % groups_)
      throw std::invalid_argument("conv2d: 'stride' and 'groups' must be positive and 'groups' must divide the channels");
    torch::nn::Conv2d init(torch::nn::Conv2dOptions(in, out, size).groups(groups_).bias(o.flag(k, "bias", true)));
    weight_ = register_parameter("weight", init->weight.detach().clone());
    if (o.flag(k, "bias", true)) bias_ = register_parameter("bias", init->bias.detach().clone());
  }
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& x) override {
    return {at::conv2d(x[0], weight_, bias_, stride_, padding_, 1, groups_)};
  }

 private:
  at::Tensor weight_, bias_;
  int64_t stride_, padding_, groups_;
};

class GroupNorm final : public Module {
 public:
  explicit GroupNorm(const Options& o) {
    groups_ = positive(o, "groupNorm", "groups");
    const int64_t channels = positive(o, "groupNorm", "channels");
    if (channels % groups_) throw std::invalid_argument("groupNorm: 'groups' must divide 'channels'");
    eps_ = o.number("groupNorm", "eps", 1e-5);
    weight_ = register_parameter("weight", at::ones({channels}));
    bias_ = register_parameter("bias", at::zeros({channels}));
  }
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& x) override {
    return {at::group_norm(x[0], groups_, weight_, bias_, eps_)};
  }

 private:
  at::Tensor weight_, bias_;
  int64_t groups_;
  double eps_;
};

at::Tensor activate(const std::string& name, const at::Tensor& x) {
  if (name == "relu") return at::relu(x);
  if (name == "silu") return at::silu(x);
  if (name == "gelu") return at::gelu(x);
  if (name == "tanh") return at::tanh(x);
  throw std::invalid_argument("mlp: option 'activation' must be 'relu', 'silu', 'gelu' or 'tanh', got '" + name + "'");
}

// Linear layers with an activation between them: sizes [in, hidden..., out].
class Mlp final : public Module {
 public:
  explicit Mlp(const Options& o) : activation_(o.string("mlp", "activation", "relu")) {
    const auto sizes = o.list("mlp", "sizes");
    if (sizes.size() < 2) throw std::invalid_argument("mlp: option 'sizes' needs at least [in, out]");
    activate(activation_, at::zeros({1}));  // rejects an unknown name now, not at the first forward
    for (size_t i = 0; i + 1 < sizes.size(); ++i) {
      Options layer;
      layer.numbers = {{"inFeatures", double(sizes[i])}, {"outFeatures", double(sizes[i + 1])}};
      layers_.push_back(register_module(std::to_string(i), std::make_shared<Linear>(layer)));
    }
  }
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& x) override {
    at::Tensor h = x[0];
    for (size_t i = 0; i < layers_.size(); ++i) {
      h = layers_[i]->forward({h})[0];
      if (i + 1 < layers_.size()) h = activate(activation_, h);
    }
    return {h};
  }

 private:
  std::string activation_;
  std::vector<std::shared_ptr<Linear>> layers_;
};

}  // namespace

std::shared_ptr<Module> makeLinear(const Options& o) { return std::make_shared<Linear>(o); }
std::shared_ptr<Module> makeConv2d(const Options& o) { return std::make_shared<Conv2d>(o); }
std::shared_ptr<Module> makeGroupNorm(const Options& o) { return std::make_shared<GroupNorm>(o); }
std::shared_ptr<Module> makeMlp(const Options& o) { return std::make_shared<Mlp>(o); }

}  // namespace invdiff::nn
