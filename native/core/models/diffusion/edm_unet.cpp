#include "core/models/diffusion/edm_unet.h"

#include <stdexcept>

#include "core/models/diffusion/precond.h"
#include "core/nn/blocks.h"

namespace invdiff::diffusion {

using nn::child;
using nn::conv;
using nn::group;
using nn::ResnetBlock;
using nn::Transformer;

EdmUNetConfig EdmUNetConfig::from(const std::string& k, const Options& o) {
  EdmUNetConfig c;
  c.imageChannels = o.integer(k, "imageChannels", 1);
  c.conditionChannels = k == "palette" ? c.imageChannels : 0;
  c.channels = o.integer(k, "channels", 32);
  c.multipliers = o.list(k, "multipliers", {1, 2, 2});
  c.blocks = o.integer(k, "blocks", 1);
  std::vector<int64_t> lastOnly(c.multipliers.size(), 0);
  if (!lastOnly.empty()) lastOnly.back() = 1;
  c.attention = o.list(k, "attention", lastOnly);
  c.heads = o.integer(k, "heads", 4);
  c.attentionChunk = o.integer(k, "attentionChunk", 1024);
  c.groups = o.integer(k, "groups", 8);
  c.patch = o.integer(k, "patch", 2);
  c.dropout = o.number(k, "dropout", 0);
  c.sigmaData = o.number(k, "sigmaData", 0.5);
  c.imageSize = o.integer(k, "imageSize", 64);
  for (auto [v, name] : {std::pair{c.imageChannels, "imageChannels"}, {c.channels, "channels"}, {c.blocks, "blocks"}, {c.heads, "heads"},
                         {c.attentionChunk, "attentionChunk"}, {c.groups, "groups"}, {c.patch, "patch"}})
    if (v < 1) throw std::invalid_argument(k + ": option '" + name + "' must be a positive integer");
  if (c.channels % 2) throw std::invalid_argument(k + ": option 'channels' must be even (half the noise embedding is cosines)");
  if (c.multipliers.empty()) throw std::invalid_argument(k + ": option 'multipliers' needs at least one level");
  for (int64_t m : c.multipliers)
    if (m < 1 || (c.channels * m) % c.groups)
      throw std::invalid_argument(k + ": option 'multipliers' must be positive, and 'groups' must divide every level's channels (channels × multiplier)");
  if (c.attention.size() != c.multipliers.size())
    throw std::invalid_argument(k + ": option 'attention' needs one 0/1 flag per level (" + std::to_string(c.multipliers.size()) + ")");
  if (!(c.dropout >= 0 && c.dropout < 1)) throw std::invalid_argument(k + ": option 'dropout' must lie in [0, 1)");
  if (!(c.sigmaData > 0)) throw std::invalid_argument(k + ": option 'sigmaData' must be positive");
  checkImageSize(k, c.imageSize, c.sizeMultiple());
  return c;
}

namespace {

// One resolution: resnets, each followed by attention where the level has it.
struct Stage {
  std::vector<std::shared_ptr<ResnetBlock>> resnets;
  std::vector<std::shared_ptr<Transformer>> attentions;
  torch::nn::Conv2d resample{nullptr};
};

}  // namespace

struct EdmUNet::Impl {
  torch::nn::Conv2d convIn{nullptr}, convOut{nullptr};
  torch::nn::GroupNorm normOut{nullptr};
  std::shared_ptr<nn::NoiseEmbedding> embedding;
  std::vector<Stage> down, up;
  Stage mid;
};

EdmUNet::EdmUNet(const std::string& kind, const Options& options)
    : impl_(std::make_shared<Impl>()), config_(EdmUNetConfig::from(kind, options)), kind_(kind) {
  const EdmUNetConfig& c = config_;
  const int64_t levels = static_cast<int64_t>(c.multipliers.size()), p2 = c.patch * c.patch;
  Impl& m = *impl_;
  m.embedding = child(*this, "time_embedding", std::make_shared<nn::NoiseEmbedding>(c.channels));
  const int64_t e = m.embedding->width();
  m.convIn = conv(*this, "conv_in", (c.imageChannels + c.conditionChannels) * p2, c.channels, 3);
  auto attention = [&](torch::nn::Module& parent, int64_t index, int64_t ch) {
    return child(parent, std::to_string(index), std::make_shared<Transformer>(ch, c.groups, c.heads, c.attentionChunk));
  };
  std::vector<int64_t> skips{c.channels};
  int64_t width = c.channels;
  auto downNode = group(*this, "down_blocks"), upNode = group(*this, "up_blocks");
  for (int64_t l = 0; l < levels; ++l) {
    Stage s;
    auto node = group(*downNode, std::to_string(l));
    auto resnets = group(*node, "resnets");
    auto attentions = c.attention[l] ? group(*node, "attentions") : nullptr;
    const int64_t ch = c.channels * c.multipliers[l];
    for (int64_t j = 0; j < c.blocks; ++j) {
      s.resnets.push_back(child(*resnets, std::to_string(j), std::make_shared<ResnetBlock>(width, ch, c.groups, c.dropout, e)));
      if (attentions) s.attentions.push_back(attention(*attentions, j, ch));
      width = ch;
      skips.push_back(width);
    }
    if (l + 1 < levels) {
      s.resample = conv(*group(*group(*node, "downsamplers"), "0"), "conv", width, width, 3, 2);
      skips.push_back(width);
    }
    m.down.push_back(std::move(s));
  }
  auto mid = group(*this, "mid_block");
  auto midResnets = group(*mid, "resnets");
  for (int j = 0; j < 2; ++j) m.mid.resnets.push_back(child(*midResnets, std::to_string(j), std::make_shared<ResnetBlock>(width, width, c.groups, c.dropout, e)));
  m.mid.attentions.push_back(attention(*group(*mid, "attentions"), 0, width));
  for (int64_t i = 0; i < levels; ++i) {
    const int64_t l = levels - 1 - i, ch = c.channels * c.multipliers[l];
    Stage s;
    auto node = group(*upNode, std::to_string(i));
    auto resnets = group(*node, "resnets");
    auto attentions = c.attention[l] ? group(*node, "attentions") : nullptr;
    for (int64_t j = 0; j <= c.blocks; ++j) {
      s.resnets.push_back(child(*resnets, std::to_string(j), std::make_shared<ResnetBlock>(width + skips.back(), ch, c.groups, c.dropout, e)));
      skips.pop_back();
      if (attentions) s.attentions.push_back(attention(*attentions, j, ch));
      width = ch;
    }
    if (l > 0) s.resample = conv(*group(*group(*node, "upsamplers"), "0"), "conv", width, width, 3);
    m.up.push_back(std::move(s));
  }
  m.normOut = nn::norm(*this, "conv_norm_out", c.groups, width, 1e-5);
  m.convOut = conv(*this, "conv_out", width, c.imageChannels * p2, 3);
  nn::zeroInit(*m.convOut);
}

at::Tensor EdmUNet::network(const at::Tensor& input, const at::Tensor& noise) {
  Impl& m = *impl_;
  const at::Tensor emb = m.embedding->forward(noise);
  auto run = [&](Stage& s, size_t j, const at::Tensor& h) {
    const at::Tensor r = s.resnets[j]->forward(h, emb);
    return s.attentions.empty() ? r : s.attentions[j]->forward(r);
  };
  at::Tensor h = m.convIn(at::pixel_unshuffle(input, config_.patch));
  std::vector<at::Tensor> skips{h};
  for (Stage& s : m.down) {
    for (size_t j = 0; j < s.resnets.size(); ++j) skips.push_back(h = run(s, j, h));
    if (s.resample) skips.push_back(h = s.resample(h));
  }
  h = m.mid.resnets[1]->forward(m.mid.attentions[0]->forward(m.mid.resnets[0]->forward(h, emb)), emb);
  for (Stage& s : m.up) {
    for (size_t j = 0; j < s.resnets.size(); ++j) {
      h = run(s, j, at::cat({h, skips.back()}, 1));
      skips.pop_back();
    }
    if (s.resample) h = s.resample(at::upsample_nearest2d(h, {h.size(2) * 2, h.size(3) * 2}));
  }
  return at::pixel_shuffle(m.convOut(at::silu(m.normOut(h))), config_.patch);
}

Options EdmUNet::info() const {
  const EdmUNetConfig& c = config_;
  Options facts = Module::info();
  facts.numbers["sizeMultiple"] = static_cast<double>(c.sizeMultiple());
  facts.numbers["imageChannels"] = static_cast<double>(c.imageChannels);
  facts.numbers["imageSize"] = static_cast<double>(c.imageSize);
  // The configuration with its defaults resolved, so a network built from this one (IDM.fromPrior) need not repeat them.
  facts.strings["architecture"] = "unet";
  for (auto [name, v] : {std::pair{"channels", c.channels}, {"blocks", c.blocks}, {"heads", c.heads}, {"groups", c.groups}, {"patch", c.patch}})
    facts.numbers[name] = static_cast<double>(v);
  facts.numbers["sigmaData"] = c.sigmaData;
  facts.numbers["dropout"] = c.dropout;
  facts.lists["multipliers"] = c.multipliers;
  facts.lists["attention"] = c.attention;
  return facts;
}

std::vector<at::Tensor> EdmUNet::forward(const std::vector<at::Tensor>& inputs) {
  const EdmUNetConfig& c = config_;
  const at::Tensor& x = inputs[0];
  checkImages(kind_, x, c.imageChannels, c.sizeMultiple());
  const int64_t n = x.size(0);
  const Precond pre(kind_, inputs[1], x, c.sigmaData);
  at::Tensor input = x * pre.cIn();
  if (c.conditionChannels > 0) {
    const at::Tensor& condition = inputs[2];
    if (condition.sizes() != at::IntArrayRef({n, c.conditionChannels, x.size(2), x.size(3)}))
      throw std::invalid_argument(kind_ + ": argument 'condition' (A⁺y) expected shape " + c10::str(at::IntArrayRef({n, c.conditionChannels, x.size(2), x.size(3)})) +
                                  ", got " + c10::str(condition.sizes()));
    input = at::cat({input, condition.to(x.options())}, 1);
  }
  return {pre.output(x, network(input, pre.cNoise()))};
}

at::Tensor EdmUNet::denoise(const at::Tensor& x, const at::Tensor& sigma, const Context& context) {
  if (!x.defined() || !sigma.defined()) throw std::invalid_argument(kind_ + ": denoise needs 'x' and 'sigma'");
  if (config_.conditionChannels == 0) return forward({x, sigma})[0];
  if (!context.op || !context.y.defined())
    throw std::invalid_argument(kind_ + ": the context needs 'operator' and 'y' (this model is conditional: it reads A⁺y)");
  return forward({x, sigma, context.op->pinv(context.y)})[0];
}

std::shared_ptr<Module> makeUnconditional(const Options& options) { return std::make_shared<EdmUNet>("unconditional", options); }
std::shared_ptr<Module> makePalette(const Options& options) { return std::make_shared<EdmUNet>("palette", options); }

}  // namespace invdiff::diffusion
