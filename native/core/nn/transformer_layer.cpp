#include "core/nn/transformer_layer.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/nn/blocks.h"
#include "core/nn/neighborhood_attention.h"

namespace invdiff::nn {

at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& scale, double eps) {
  return x * (x.square().mean(-1, true) + eps).rsqrt() * scale;
}

RMSNorm::RMSNorm(int64_t width) { scale = register_parameter("scale", at::ones({width})); }
at::Tensor RMSNorm::forward(const at::Tensor& x) { return rmsNorm(x, scale); }

AdaRMSNorm::AdaRMSNorm(int64_t width, int64_t condWidth) {
  linear = nn::linear(*this, "linear", condWidth, width, false);
  zeroInit(*linear);
}
at::Tensor AdaRMSNorm::forward(const at::Tensor& x, const at::Tensor& cond) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape.front() = x.size(0);
  shape.back() = x.size(-1);
  return rmsNorm(x, linear(cond).reshape(shape) + 1);
}

at::Tensor geglu(const at::Tensor& x, torch::nn::Linear& proj) {
  const auto parts = proj(x).chunk(2, -1);
  return parts[0] * at::gelu(parts[1]);
}

at::Tensor gridPositions(int64_t h, int64_t w, const at::TensorOptions& options) {
  auto centres = [&](int64_t n) { return (at::arange(n, options) * 2 + 1) / static_cast<double>(n) - 1; };
  const auto grids = at::meshgrid({centres(h), centres(w)}, "ij");
  return at::stack({grids[0], grids[1]}, -1);
}

namespace {

// Rotates the first headDim/2 dimensions in pairs (i, i + headDim/4) by theta (…, headDim/4); the rest pass.
at::Tensor rotate(const at::Tensor& x, const at::Tensor& theta) {
  const int64_t q = theta.size(-1), d = x.size(-1);
  const at::Tensor x1 = x.narrow(-1, 0, q), x2 = x.narrow(-1, q, q), cos = theta.cos(), sin = theta.sin();
  return at::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin, x.narrow(-1, 2 * q, d - 2 * q)}, -1);
}

// softmax(q·Kᵀ)·V over all tokens (the scale is in q and k already), queries in chunks to bound the logits.
at::Tensor globalAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  constexpr int64_t kChunk = 2048;
  std::vector<at::Tensor> parts;
  for (int64_t start = 0; start < q.size(2); start += kChunk) {
    const at::Tensor qc = q.narrow(2, start, std::min(kChunk, q.size(2) - start));
    parts.push_back(at::matmul(at::softmax(at::matmul(qc, k.transpose(-1, -2)), -1), v));
  }
  return parts.size() == 1 ? parts[0] : at::cat(parts, 2);
}

}  // namespace

TransformerLayer::TransformerLayer(const TransformerLayerConfig& c) : c_(c) {
  if (c.headDim < 8 || c.headDim % 8 || c.width % c.headDim)
    throw std::invalid_argument("hdit: the head dimension must be a multiple of 8 that divides every level's width (got headDim " + std::to_string(c.headDim) +
                                ", width " + std::to_string(c.width) + ")");
  heads_ = c.width / c.headDim;
  norm_ = register_module("norm", std::make_shared<AdaRMSNorm>(c.width, c.condWidth));
  qkv_ = linear(*this, "qkv_proj", c.width, 3 * c.width, false);
  scale_ = register_parameter("scale", at::full({heads_}, 10.0));
  if (c.joint) {
    jointNorm_ = register_module("joint_norm", std::make_shared<AdaRMSNorm>(c.width, c.condWidth));
    jointKey_ = linear(*this, "joint_k_proj", 2 * c.width, c.width, false);
    jointValue_ = linear(*this, "joint_v_proj", c.width, c.width, false);
  }
  out_ = linear(*this, "out_proj", c.width, c.width, false);
  zeroInit(*out_);
  ffNorm_ = register_module("ff_norm", std::make_shared<AdaRMSNorm>(c.width, c.condWidth));
  up_ = linear(*this, "up_proj", c.width, 2 * c.hidden, false);
  down_ = linear(*this, "down_proj", c.hidden, c.width, false);
  zeroInit(*down_);
  // Log-spaced from π to 10π, interleaved across heads: (headDim/8 per axis) × heads.
  const int64_t perAxis = c.headDim / 8;
  const double pi = 3.14159265358979323846;
  frequencies_ = at::linspace(std::log(pi), std::log(10 * pi), heads_ * perAxis + 1, at::kDouble)
                     .narrow(0, 0, heads_ * perAxis)
                     .exp()
                     .view({perAxis, heads_})
                     .t()
                     .contiguous()
                     .to(at::kFloat);
}

at::Tensor TransformerLayer::heads(const at::Tensor& t) const {
  return t.unflatten(-1, {heads_, c_.headDim}).permute({0, 3, 1, 2, 4});  // (B, h, w, W) → (B, nh, h, w, d)
}

at::Tensor TransformerLayer::keyLike(const at::Tensor& t, const at::Tensor& theta) const {
  const at::Tensor s = scale_.to(t.options()).sqrt().view({1, heads_, 1, 1, 1});
  return rotate(t * (t.square().sum(-1, true) + 1e-6).rsqrt() * s, theta);
}

at::Tensor TransformerLayer::attention(const at::Tensor& x, const at::Tensor& positions, const at::Tensor& cond, const at::Tensor& yTilde) {
  const int64_t h = x.size(1), w = x.size(2), b = x.size(0);
  const at::Tensor xn = norm_->forward(x, cond);
  const auto qkv = heads(qkv_(xn).unflatten(-1, {3, c_.width}).movedim(3, 0).flatten(0, 1)).unflatten(0, {3, b});
  const at::Tensor f = frequencies_.to(x.options());
  const at::Tensor theta = at::cat({positions.select(-1, 0).unsqueeze(-1).unsqueeze(-1) * f, positions.select(-1, 1).unsqueeze(-1).unsqueeze(-1) * f}, -1)
                               .permute({2, 0, 1, 3})
                               .unsqueeze(0);  // (1, nh, h, w, headDim/4)
  const at::Tensor q = keyLike(qkv[0], theta), k = keyLike(qkv[1], theta), v = qkv[2];
  std::vector<at::Tensor> keys{k}, values{v};
  if (c_.joint) {
    const at::Tensor yn = jointNorm_->forward(yTilde.defined() ? yTilde : at::zeros_like(x), cond);
    keys.push_back(keyLike(heads(jointKey_(at::cat({xn, yn}, -1))), theta));
    values.push_back(heads(jointValue_(yn)));
  }
  at::Tensor a;
  if (c_.kernelSize > 0 && h >= c_.kernelSize && w >= c_.kernelSize) {
    a = neighborhoodAttention(q, keys, values, c_.kernelSize, 1.0);
  } else {
    auto tokens = [](const at::Tensor& t) { return t.flatten(2, 3); };  // (B, nh, h·w, d)
    std::vector<at::Tensor> k2, v2;
    for (size_t i = 0; i < keys.size(); ++i) {
      k2.push_back(tokens(keys[i]));
      v2.push_back(tokens(values[i]));
    }
    a = globalAttention(tokens(q), at::cat(k2, 2), at::cat(v2, 2)).unflatten(2, {h, w});
  }
  a = a.permute({0, 2, 3, 1, 4}).flatten(3);  // (B, h, w, W)
  return x + out_(at::dropout(a, c_.dropout, is_training()));
}

at::Tensor TransformerLayer::forward(const at::Tensor& x, const at::Tensor& positions, const at::Tensor& cond, const at::Tensor& yTilde) {
  const at::Tensor h = attention(x, positions, cond, yTilde);
  return h + down_(at::dropout(geglu(ffNorm_->forward(h, cond), up_), c_.dropout, is_training()));
}

}  // namespace invdiff::nn
