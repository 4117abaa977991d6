#include "core/models/diffusion/hdit.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <stdexcept>

#include "core/models/diffusion/precond.h"
#include "core/nn/blocks.h"
#include "core/nn/feature_degradation.h"
#include "core/nn/transformer_layer.h"

namespace invdiff::diffusion {

using nn::AdaRMSNorm;
using nn::FeatureDegradation;
using nn::RMSNorm;
using nn::TransformerLayer;

namespace {

bool fdFits(const HditConfig& c, size_t level) {
  const int64_t p = c.patch << level;
  return c.widths[level] % (p * p * c.imageChannels) == 0;
}

}  // namespace

HditConfig HditConfig::from(const std::string& k, const std::string& conditioning, const Options& o) {
  HditConfig c;
  c.conditioning = conditioning;
  const std::string preset = o.string(k, "preset", "cpu32");
  if (preset == "ffhq64") {
    c.imageChannels = 3;
    c.widths = {384, 768, 1536};
    c.depths = {2, 2, 8};
    c.kernelSizes = {7, 7, 0};
    c.headDim = 64;
    c.dropout = 0.05;
    c.imageSize = 64;
  } else if (preset != "cpu32") {
    throw std::invalid_argument(k + ": option 'preset' must be 'cpu32' or 'ffhq64', got '" + preset + "'");
  }
  c.imageChannels = o.integer(k, "imageChannels", c.imageChannels);
  c.patch = o.integer(k, "patch", c.patch);
  c.widths = o.list(k, "widths", c.widths);
  c.depths = o.list(k, "depths", c.depths);
  c.kernelSizes = o.list(k, "kernelSizes", c.kernelSizes);
  c.headDim = o.integer(k, "headDim", c.headDim);
  c.ffMultiple = o.number(k, "ffMultiple", c.ffMultiple);
  c.mappingWidth = o.integer(k, "mappingWidth", c.mappingWidth);
  c.mappingDepth = o.integer(k, "mappingDepth", c.mappingDepth);
  c.mappingHidden = o.integer(k, "mappingHidden", c.mappingHidden);
  c.dropout = o.number(k, "dropout", c.dropout);
  c.sigmaData = o.number(k, "sigmaData", c.sigmaData);
  c.imageSize = o.integer(k, "imageSize", c.imageSize);
  for (auto [v, name] : {std::pair{c.imageChannels, "imageChannels"}, {c.patch, "patch"}, {c.headDim, "headDim"}, {c.mappingWidth, "mappingWidth"},
                         {c.mappingHidden, "mappingHidden"}})
    if (v < 1) throw std::invalid_argument(k + ": option '" + name + "' must be a positive integer");
  if (c.mappingWidth % 2) throw std::invalid_argument(k + ": option 'mappingWidth' must be even (half its Fourier features are cosines)");
  if (c.mappingDepth < 0) throw std::invalid_argument(k + ": option 'mappingDepth' must be >= 0");
  const size_t levels = c.widths.size();
  if (levels == 0) throw std::invalid_argument(k + ": option 'widths' needs at least one level");
  if (c.depths.size() != levels || c.kernelSizes.size() != levels)
    throw std::invalid_argument(k + ": options 'depths' and 'kernelSizes' need one entry per level of 'widths' (" + std::to_string(levels) + ")");
  for (size_t l = 0; l < levels; ++l) {
    if (c.widths[l] < 1 || c.depths[l] < 1) throw std::invalid_argument(k + ": options 'widths' and 'depths' must be positive");
    if (c.kernelSizes[l] < 0 || (c.kernelSizes[l] > 0 && c.kernelSizes[l] % 2 == 0))
      throw std::invalid_argument(k + ": option 'kernelSizes' holds odd neighbourhood windows, or 0 for global attention, got " + std::to_string(c.kernelSizes[l]));
  }
  if (!(c.ffMultiple > 0)) throw std::invalid_argument(k + ": option 'ffMultiple' must be positive");
  if (!(c.dropout >= 0 && c.dropout < 1)) throw std::invalid_argument(k + ": option 'dropout' must lie in [0, 1)");
  if (!(c.sigmaData > 0)) throw std::invalid_argument(k + ": option 'sigmaData' must be positive");
  checkImageSize(k, c.imageSize, c.sizeMultiple());
  if (conditioning == "invfussion") {
    std::vector<int64_t> fits(levels);
    for (size_t l = 0; l < levels; ++l) fits[l] = fdFits(c, l);
    c.featureDegradation = o.list(k, "featureDegradation", fits);
    if (c.featureDegradation.size() != levels)
      throw std::invalid_argument(k + ": option 'featureDegradation' needs one 0/1 flag per level (" + std::to_string(levels) + ")");
    for (size_t l = 0; l < levels; ++l)
      if (c.featureDegradation[l] && !fits[l]) {
        const int64_t p = c.patch << l;
        throw std::invalid_argument(k + ": option 'featureDegradation' asks for level " + std::to_string(l) + ", whose width " + std::to_string(c.widths[l]) +
                                    " is not a multiple of (patch·2^level)²·imageChannels = " + std::to_string(p * p * c.imageChannels));
      }
  } else {
    c.featureDegradation.assign(levels, 0);
  }
  return c;
}

namespace {

// One level's layers, each with its own Feature Degradation layer where the level has them.
struct Stage {
  std::vector<std::shared_ptr<TransformerLayer>> layers;
  std::vector<std::shared_ptr<FeatureDegradation>> degradations;
};

struct MappingBlock : torch::nn::Module {
  MappingBlock(int64_t width, int64_t hidden) {
    norm = register_module("norm", std::make_shared<RMSNorm>(width));
    up = nn::linear(*this, "up_proj", width, 2 * hidden, false);
    down = nn::linear(*this, "down_proj", hidden, width, false);
    nn::zeroInit(*down);
  }
  at::Tensor forward(const at::Tensor& x, double dropout) { return x + down(at::dropout(nn::geglu(norm->forward(x), up), dropout, is_training())); }
  std::shared_ptr<RMSNorm> norm;
  torch::nn::Linear up{nullptr}, down{nullptr};
};

}  // namespace

struct Hdit::Impl {
  torch::nn::Linear patchIn{nullptr}, timeIn{nullptr}, patchOut{nullptr}, logVariance{nullptr};
  std::shared_ptr<RMSNorm> mappingIn, mappingOut, normOut;
  std::vector<std::shared_ptr<MappingBlock>> mapping;
  std::vector<Stage> down, up;  // down[l] for l < levels − 1 (encoder), up[l] likewise (decoder)
  Stage middle;
  std::vector<torch::nn::Linear> merges, splits;
  std::vector<at::Tensor> splitFactors;  // lerp(skip, x, f), f initialised to 0.5
  // Fixed random Fourier features, drawn from a fixed seed so a saved model needs no buffer.
  at::Tensor timeFrequencies, logVarianceFrequencies, logVariancePhases;
};

namespace {

// (B, h·f, w·f, C) → (B, h, w, f·f·C) and back: HDiT's token merge and split (and the input patching).
at::Tensor mergeTokens(const at::Tensor& t, int64_t f) {
  const int64_t b = t.size(0), h = t.size(1) / f, w = t.size(2) / f, c = t.size(3);
  return t.reshape({b, h, f, w, f, c}).permute({0, 1, 3, 2, 4, 5}).reshape({b, h, w, f * f * c});
}
at::Tensor splitTokens(const at::Tensor& t, int64_t f) {
  const int64_t b = t.size(0), h = t.size(1), w = t.size(2), c = t.size(3) / (f * f);
  return t.reshape({b, h, w, f, f, c}).permute({0, 1, 3, 2, 4, 5}).reshape({b, h * f, w * f, c});
}

at::Tensor fixedRandom(std::vector<int64_t> shape, uint64_t seed, bool normal) {
  auto g = at::make_generator<at::CPUGeneratorImpl>(seed);
  return (normal ? at::randn(shape, g, at::kDouble) : at::rand(shape, g, at::kDouble)).to(at::kFloat);
}

}  // namespace

Hdit::Hdit(const std::string& kind, const std::string& conditioning, const Options& options)
    : impl_(std::make_shared<Impl>()), config_(HditConfig::from(kind, conditioning, options)), kind_(kind) {
  const HditConfig& c = config_;
  Impl& m = *impl_;
  const size_t levels = c.widths.size();
  const double pi = 3.14159265358979323846;
  m.timeFrequencies = fixedRandom({c.mappingWidth / 2}, 0x4D1D17, true) * (2 * pi);
  m.logVarianceFrequencies = fixedRandom({128}, 0x10C7A2, true) * (2 * pi);
  m.logVariancePhases = fixedRandom({128}, 0x10C7A3, false) * (2 * pi);
  m.patchIn = nn::linear(*this, "patch_in", c.inputChannels() * c.patch * c.patch, c.widths[0], false);
  m.timeIn = nn::linear(*this, "time_in_proj", 2 * m.timeFrequencies.size(0), c.mappingWidth, false);
  auto mapping = nn::group(*this, "mapping");
  m.mappingIn = nn::child(*mapping, "in_norm", std::make_shared<RMSNorm>(c.mappingWidth));
  auto blocks = nn::group(*mapping, "blocks");
  for (int64_t i = 0; i < c.mappingDepth; ++i)
    m.mapping.push_back(nn::child(*blocks, std::to_string(i), std::make_shared<MappingBlock>(c.mappingWidth, c.mappingHidden)));
  m.mappingOut = nn::child(*mapping, "out_norm", std::make_shared<RMSNorm>(c.mappingWidth));
  auto stage = [&](torch::nn::Module& parent, const std::string& name, size_t l, int64_t count) {
    Stage s;
    auto node = nn::group(parent, name);
    const bool fd = c.featureDegradation[l] != 0;
    const nn::TransformerLayerConfig lc{c.widths[l], c.mappingWidth, c.headDim, static_cast<int64_t>(std::llround(c.ffMultiple * c.widths[l])),
                                        c.kernelSizes[l], fd, c.dropout};
    for (int64_t j = 0; j < count; ++j) {
      auto layer = nn::group(*node, std::to_string(j));
      s.layers.push_back(nn::child(*layer, "layer", std::make_shared<TransformerLayer>(lc)));
      if (fd)
        s.degradations.push_back(nn::child(*layer, "fd", std::make_shared<FeatureDegradation>(c.widths[l], c.patch << l, c.imageChannels,
                                                                                            kind_ + " level " + std::to_string(l))));
    }
    return s;
  };
  auto downNode = nn::group(*this, "down_levels"), upNode = nn::group(*this, "up_levels");
  auto mergeNode = nn::group(*this, "merges"), splitNode = nn::group(*this, "splits");
  for (size_t l = 0; l + 1 < levels; ++l) {
    m.down.push_back(stage(*downNode, std::to_string(l), l, c.depths[l]));
    m.up.push_back(stage(*upNode, std::to_string(l), l, c.depths[l]));
    auto merge = nn::group(*mergeNode, std::to_string(l)), split = nn::group(*splitNode, std::to_string(l));
    m.merges.push_back(nn::linear(*merge, "proj", 4 * c.widths[l], c.widths[l + 1], false));
    m.splits.push_back(nn::linear(*split, "proj", c.widths[l + 1], 4 * c.widths[l], false));
    m.splitFactors.push_back(split->register_parameter("fac", at::full({1}, 0.5)));
  }
  m.middle = stage(*this, "mid_level", levels - 1, c.depths.back());
  m.normOut = nn::child(*this, "out_norm", std::make_shared<RMSNorm>(c.widths[0]));
  m.patchOut = nn::linear(*this, "patch_out", c.widths[0], c.imageChannels * c.patch * c.patch, false);
  nn::zeroInit(*m.patchOut);
  m.logVariance = nn::linear(*this, "logvar_linear", 128, 1, true);
  nn::zeroInit(*m.logVariance);
}

at::Tensor Hdit::network(const at::Tensor& input, const at::Tensor& noise, const Context* measured) {
  const HditConfig& c = config_;
  Impl& m = *impl_;
  const at::Tensor angles = noise.unsqueeze(1) * m.timeFrequencies.to(noise.options()).unsqueeze(0);
  at::Tensor cond = m.mappingIn->forward(m.timeIn(at::cat({at::cos(angles), at::sin(angles)}, 1)));
  for (auto& block : m.mapping) cond = block->forward(cond, c.dropout);
  cond = m.mappingOut->forward(cond);
  auto runStage = [&](Stage& s, at::Tensor x) {
    const at::Tensor positions = nn::gridPositions(x.size(1), x.size(2), x.options());
    for (size_t j = 0; j < s.layers.size(); ++j) {
      const at::Tensor yTilde = !s.degradations.empty() && measured ? s.degradations[j]->forward(x, *measured->op, measured->y) : at::Tensor();
      x = s.layers[j]->forward(x, positions, cond, yTilde);
    }
    return x;
  };
  at::Tensor x = m.patchIn(mergeTokens(input.permute({0, 2, 3, 1}), c.patch));
  std::vector<at::Tensor> skips;
  for (size_t l = 0; l < m.down.size(); ++l) {
    x = runStage(m.down[l], x);
    skips.push_back(x);
    x = m.merges[l](mergeTokens(x, 2));
  }
  x = runStage(m.middle, x);
  for (size_t i = m.up.size(); i-- > 0;) {
    const at::Tensor skip = skips[i];
    x = at::lerp(skip, splitTokens(m.splits[i](x), 2), m.splitFactors[i].to(x.options()));
    x = runStage(m.up[i], x);
  }
  x = m.patchOut(m.normOut->forward(x));
  return splitTokens(x, c.patch).permute({0, 3, 1, 2});
}

at::Tensor Hdit::run(const at::Tensor& x, const at::Tensor& sigma, const at::Tensor& pinvY, const Context* measured) {
  const HditConfig& c = config_;
  checkImages(kind_, x, c.imageChannels, c.sizeMultiple());
  const Precond pre(kind_, sigma, x, c.sigmaData);
  at::Tensor input = x * pre.cIn();
  if (c.conditioning != "none") {
    at::Tensor condition = pinvY.defined() ? pinvY.to(x.options()) : at::zeros_like(x);
    if (condition.sizes() != x.sizes())
      throw std::invalid_argument(kind_ + ": argument 'condition' (A⁺y) expected shape " + c10::str(x.sizes()) + ", got " + c10::str(condition.sizes()));
    input = at::cat({input, condition}, 1);
  }
  return pre.output(x, network(input, pre.cNoise(), measured));
}

std::vector<at::Tensor> Hdit::forward(const std::vector<at::Tensor>& inputs) {
  return {run(inputs[0], inputs[1], config_.conditioning == "palette" ? inputs[2] : at::Tensor(), nullptr)};
}

at::Tensor Hdit::denoise(const at::Tensor& x, const at::Tensor& sigma, const Context& context) {
  if (!x.defined() || !sigma.defined()) throw std::invalid_argument(kind_ + ": denoise needs 'x' and 'sigma'");
  if (config_.conditioning == "none") return run(x, sigma, {}, nullptr);
  const bool measured = context.op && context.y.defined();
  if (config_.conditioning == "palette" && !measured)
    throw std::invalid_argument(kind_ + ": the context needs 'operator' and 'y' (this model is conditional: it reads A⁺y)");
  if (!measured) {
    if (context.op || context.y.defined()) throw std::invalid_argument(kind_ + ": the context needs both 'operator' and 'y', or neither (an unconditional call)");
    return run(x, sigma, {}, nullptr);
  }
  if (context.y.size(0) != x.size(0))
    throw std::invalid_argument(kind_ + ": 'y' holds " + std::to_string(context.y.size(0)) + " measurements for " + std::to_string(x.size(0)) + " images");
  if (context.op->setup().imageShape != std::vector<int64_t>(x.sizes().begin() + 1, x.sizes().end()))
    throw std::invalid_argument(kind_ + ": the operator was built for images " + c10::str(at::IntArrayRef(context.op->setup().imageShape)) + ", got 'x' of shape " +
                                c10::str(x.sizes()));
  const at::Tensor pinvY = context.op->networkPinv(context.y.to(x.options()));
  return run(x, sigma, pinvY, config_.conditioning == "invfussion" ? &context : nullptr);
}

at::Tensor Hdit::logVariance(const at::Tensor& sigma) {
  if (!sigma.defined() || sigma.dim() > 1 || !(sigma > 0).all().item<bool>())
    throw std::invalid_argument(kind_ + ": logVariance expects positive σ values (one per image)");
  Impl& m = *impl_;
  const at::Tensor noise = sigma.reshape({-1, 1}).log() / 4;
  const auto options = m.logVariance->weight.options();
  const at::Tensor features = at::cos(noise.to(options) * m.logVarianceFrequencies.to(options) + m.logVariancePhases.to(options)) * std::sqrt(2.0);
  return m.logVariance(features).reshape({-1});
}

Options Hdit::info() const {
  Options facts = Module::info();
  facts.numbers["sizeMultiple"] = static_cast<double>(config_.sizeMultiple());
  facts.numbers["imageChannels"] = static_cast<double>(config_.imageChannels);
  facts.numbers["imageSize"] = static_cast<double>(config_.imageSize);
  facts.strings["architecture"] = "hdit";
  return facts;
}

std::shared_ptr<Module> makeInvFussion(const Options& options) { return std::make_shared<Hdit>("invfussion", "invfussion", options); }
std::shared_ptr<Module> makeHdit(const std::string& kind, const Options& options) {
  return std::make_shared<Hdit>(kind, kind == "palette" ? "palette" : "none", options);
}

}  // namespace invdiff::diffusion
