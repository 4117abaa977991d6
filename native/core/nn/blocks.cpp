#include "core/nn/blocks.h"

#include <cmath>
#include <stdexcept>
#include <vector>

namespace invdiff::nn {

std::shared_ptr<Group> group(torch::nn::Module& parent, const std::string& name) { return child(parent, name, std::make_shared<Group>()); }

torch::nn::Conv2d conv(torch::nn::Module& parent, const std::string& name, int64_t in, int64_t out, int64_t size, int64_t stride) {
  return parent.register_module(name, torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, size).stride(stride).padding(size / 2)));
}
torch::nn::GroupNorm norm(torch::nn::Module& parent, const std::string& name, int64_t groups, int64_t channels, double eps) {
  return parent.register_module(name, torch::nn::GroupNorm(torch::nn::GroupNormOptions(groups, channels).eps(eps)));
}
torch::nn::Linear linear(torch::nn::Module& parent, const std::string& name, int64_t in, int64_t out, bool bias) {
  return parent.register_module(name, torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias)));
}
void zeroInit(torch::nn::Module& m) {
  at::NoGradGuard off;
  for (auto& p : m.parameters()) p.zero_();
}

NoiseEmbedding::NoiseEmbedding(int64_t channels) : channels_(channels) {
  if (channels % 2) throw std::invalid_argument("option 'channels' must be even (half the noise embedding is cosines)");
  frequencies = at::exp(at::linspace(std::log(0.05), std::log(200.0), channels / 2, at::kDouble)).to(at::kFloat);
  linear1 = linear(*this, "linear_1", channels, width());
  linear2 = linear(*this, "linear_2", width(), width());
}

at::Tensor NoiseEmbedding::forward(const at::Tensor& cNoise) {
  const at::Tensor angles = cNoise.reshape({-1, 1}) * frequencies.to(cNoise.options()).unsqueeze(0);
  return linear2(at::silu(linear1(at::cat({at::cos(angles), at::sin(angles)}, 1))));
}

ResnetBlock::ResnetBlock(int64_t in, int64_t out, int64_t groups, double dropout, int64_t embedding) : dropout_(dropout) {
  norm1 = norm(*this, "norm1", groups, in, 1e-5);
  conv1 = conv(*this, "conv1", in, out, 3);
  if (embedding > 0) embed = linear(*this, "time_emb_proj", embedding, out);
  norm2 = norm(*this, "norm2", groups, out, 1e-5);
  conv2 = conv(*this, "conv2", out, out, 3);
  zeroInit(*conv2);
  if (in != out) shortcut = conv(*this, "conv_shortcut", in, out, 1);
}

at::Tensor ResnetBlock::forward(const at::Tensor& x, const at::Tensor& embedding) {
  at::Tensor h = conv1(at::silu(norm1(x)));
  if (embed) h = h + embed(at::silu(embedding)).unsqueeze(-1).unsqueeze(-1);
  h = conv2(at::dropout(at::silu(norm2(h)), dropout_, is_training()));
  return (shortcut ? shortcut(x) : x) + h;
}

Transformer::Transformer(int64_t c, int64_t groups, int64_t heads, int64_t chunk) : heads_(heads), chunk_(chunk) {
  if (c % heads) throw std::invalid_argument("option 'heads' must divide every attention level's channel count");
  norm_ = norm(*this, "norm", groups, c, 1e-6);
  projIn = conv(*this, "proj_in", c, c, 1);
  auto block = group(*group(*this, "transformer_blocks"), "0");
  norm1 = block->register_module("norm1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c})));
  auto attn = group(*block, "attn1");
  q = linear(*attn, "to_q", c, c, false);
  k = linear(*attn, "to_k", c, c, false);
  v = linear(*attn, "to_v", c, c, false);
  out = linear(*group(*attn, "to_out"), "0", c, c);
  norm3 = block->register_module("norm3", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c})));
  auto net = group(*group(*block, "ff"), "net");
  geglu = linear(*group(*net, "0"), "proj", c, 8 * c);
  down = linear(*net, "2", 4 * c, c);
  projOut = conv(*this, "proj_out", c, c, 1);
  zeroInit(*projOut);
}

at::Tensor Transformer::forward(const at::Tensor& x) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), d = c / heads_;
  at::Tensor t = projIn(norm_(x)).flatten(2).transpose(1, 2);  // B×N×C
  const at::Tensor n = norm1(t);
  auto split = [&](const at::Tensor& u) { return u.view({b, h * w, heads_, d}).transpose(1, 2); };
  const at::Tensor queries = split(q(n)) / std::sqrt(double(d)), keys = split(k(n)).transpose(-1, -2), values = split(v(n));
  // A 512² image has 16k tokens at IDM's coarsest level, whose full attention matrix would take gigabytes;
  // rows of a softmax are independent, so chunking the queries gives the same result.
  std::vector<at::Tensor> rows;
  for (int64_t start = 0; start < h * w; start += chunk_)
    rows.push_back(at::matmul(at::softmax(at::matmul(queries.narrow(2, start, std::min(chunk_, h * w - start)), keys), -1), values));
  const at::Tensor attended = rows.size() == 1 ? rows[0] : at::cat(rows, 2);
  t = t + out(attended.transpose(1, 2).reshape({b, h * w, c}));
  const auto parts = geglu(norm3(t)).chunk(2, -1);
  t = t + down(parts[0] * at::gelu(parts[1]));
  return projOut(t.transpose(1, 2).reshape({b, c, h, w})) + x;
}

}  // namespace invdiff::nn
