#include "core/nn/feature_degradation.h"

#include <stdexcept>
#include <string>

#include "core/nn/blocks.h"

namespace invdiff::nn {

at::Tensor unpatchStack(const at::Tensor& tokens, int64_t patch, int64_t channels) {
  const int64_t b = tokens.size(0), h = tokens.size(1), w = tokens.size(2), k = tokens.size(3) / (patch * patch * channels);
  return tokens.reshape({b, h, w, patch, patch, k, channels}).permute({0, 5, 6, 1, 3, 2, 4}).reshape({b, k, channels, h * patch, w * patch});
}

at::Tensor repatchStack(const at::Tensor& stack, int64_t patch) {
  const int64_t b = stack.size(0), k = stack.size(1), c = stack.size(2), h = stack.size(3) / patch, w = stack.size(4) / patch;
  return stack.reshape({b, k, c, h, patch, w, patch}).permute({0, 3, 5, 4, 6, 1, 2}).reshape({b, h, w, patch * patch * k * c});
}

FeatureDegradation::FeatureDegradation(int64_t width, int64_t patch, int64_t channels, const std::string& where)
    : patch_(patch), channels_(channels), stack_(width / (patch * patch * channels)) {
  if (stack_ < 1 || width % (patch * patch * channels))
    throw std::invalid_argument(where + ": the Feature Degradation layer needs the width " + std::to_string(width) + " to be a multiple of patch² · channels = " +
                                std::to_string(patch * patch * channels) + " (patch " + std::to_string(patch) + ") to read the tokens as images");
  mix = linear(*this, "mix", stack_ + 1, stack_);
}

at::Tensor FeatureDegradation::forward(const at::Tensor& a, const operators::Operator& op, const at::Tensor& y) {
  // float32 at least: A⁺ amplifies, and half precision loses the small spectra it divides by.
  const bool low = a.scalar_type() == at::kHalf || a.scalar_type() == at::kBFloat16;
  const at::Tensor stack = unpatchStack(low ? a.to(at::kFloat) : a, patch_, channels_);
  const at::Tensor u = op.forward(stack);  // (B, K, ...m)
  const at::Tensor joined = at::cat({y.to(u.options()).unsqueeze(1), u}, 1).flatten(2);  // (B, K+1, M)
  // W·[y; u] + b at every measurement coordinate, channels first: no transposed copies in the graph.
  const at::Tensor weight = mix->weight.to(u.scalar_type()), bias = mix->bias.to(u.scalar_type());
  const at::Tensor mixed = at::gelu(at::matmul(weight, joined) + bias.unsqueeze(1)).reshape(u.sizes());
  const at::Tensor out = repatchStack(op.networkPinv(mixed), patch_);
  return low ? out.to(a.scalar_type()) : out;
}

}  // namespace invdiff::nn
