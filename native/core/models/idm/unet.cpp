#include "core/models/idm/unet.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/nn/blocks.h"
#include "core/nn/reversible.h"

namespace invdiff::idm {

using nn::child;
using nn::conv;
using nn::group;
using nn::Group;
using nn::norm;
using nn::ResnetBlock;
using nn::Transformer;
using nn::zeroInit;

namespace {

// §1.5: features → image z → [z, AᵀA z, Aᵀy] → features, added back; one weight set per sampling step.
// Features pixel-shuffle to the image's resolution when their count divides by scale²; otherwise (a prior's
// widths, such as 96 channels at 1/8) a 1×1 map to imageChannels·scale² comes first and its mirror after.
struct Injector : torch::nn::Module {
  Injector(int64_t features, int64_t scale, int64_t imageChannels, int64_t steps) : scale_(scale) {
    shuffled_ = features % (scale * scale) == 0;
    // Features per pixel and image channels per pixel where the 1×1 maps act (image or feature resolution).
    const int64_t in = shuffled_ ? features / (scale * scale) : features;
    const int64_t image = shuffled_ ? imageChannels : imageChannels * scale * scale;
    const double bound = 1 / std::sqrt(double(in));
    toImage = register_parameter("image_weight", at::empty({steps, image, in}).uniform_(-bound, bound));
    toImageBias = register_parameter("image_bias", at::zeros({steps, imageChannels}));
    toFeatures = register_parameter("feature_weight", at::zeros({steps, in, 3 * image}));
    toFeaturesBias = register_parameter("feature_bias", at::zeros({steps, in}));
  }
  at::Tensor forward(const at::Tensor& f, int64_t step, const operators::Operator& op, const at::Tensor& adjointY) {
    const int64_t s = step - 1;
    auto map = [](const at::Tensor& x, const at::Tensor& w) { return at::conv2d(x, w.unsqueeze(-1).unsqueeze(-1)); };
    const at::Tensor bias = toImageBias[s].reshape({1, -1, 1, 1});
    const at::Tensor z = (shuffled_ ? map(at::pixel_shuffle(f, scale_), toImage[s]) : at::pixel_shuffle(map(f, toImage[s]), scale_)) + bias;
    const at::Tensor physics = at::cat({z, op.adjoint(op.forward(z)), adjointY}, 1);
    const at::Tensor featureBias = toFeaturesBias[s].reshape({1, -1, 1, 1});
    if (shuffled_) return f + at::pixel_unshuffle(map(physics, toFeatures[s]) + featureBias, scale_);
    return f + map(at::pixel_unshuffle(physics, scale_), toFeatures[s]) + featureBias;
  }
  int64_t scale_;
  bool shuffled_;
  at::Tensor toImage, toImageBias, toFeatures, toFeaturesBias;
};

// One coupling's body: a resnet (reading a skip, going up in block-skip mode), an injector or an attention block.
struct Piece {
  std::shared_ptr<ResnetBlock> resnet;
  int64_t skip = -1;  // index into the side inputs
  std::shared_ptr<Injector> injector;
  std::shared_ptr<Transformer> attention;
};

struct Level {
  std::shared_ptr<Group> node;
  std::shared_ptr<ResnetBlock> entry;  // not invertible: changes channels, or merges the skip going up
  std::vector<std::vector<Piece>> blocks;
  std::vector<at::Tensor> logits;  // one per coupling, in order
  at::Tensor streamScale;          // the duplicated stream is (h, s·h)
  at::Tensor skipMerge;            // merged output h₁ + m·h₂, one m per block (per level in level-skip mode)
  torch::nn::Conv2d resample{nullptr};
  int64_t channels = 0;
};

}  // namespace

UNetConfig UNetConfig::from(const Options& o) {
  const std::string k = "idm";
  UNetConfig c;
  c.imageChannels = o.integer(k, "imageChannels", 1);
  c.steps = o.integer(k, "steps", 3);
  c.channels = o.integer(k, "channels", 32);
  c.multipliers = o.list(k, "multipliers", {1, 2});
  c.blocks = o.integer(k, "blocks", 2);
  std::vector<int64_t> lastOnly(c.multipliers.size(), 0);
  if (!lastOnly.empty()) lastOnly.back() = 1;
  c.attention = o.list(k, "attention", lastOnly);
  c.heads = o.integer(k, "heads", 4);
  c.attentionChunk = o.integer(k, "attentionChunk", 512);
  c.groups = o.integer(k, "groups", 8);
  c.dropout = o.number(k, "dropout", 0);
  const std::string skips = o.string(k, "skips", "level");
  if (skips != "level" && skips != "block") throw std::invalid_argument("idm: option 'skips' must be 'level' or 'block', got '" + skips + "'");
  c.blockSkips = skips == "block";
  c.duplicateBottleneck = o.flag(k, "duplicateBottleneck", false);
  c.reversible = o.flag(k, "reversible", true);
  c.keepSteps = o.integer(k, "keepSteps", std::min<int64_t>(2, c.steps));
  c.finalProjection = o.flag(k, "finalProjection", true);
  const std::string parameterization = o.string(k, "parameterization", "eps");
  if (parameterization != "eps" && parameterization != "edm")
    throw std::invalid_argument("idm: option 'parameterization' must be 'eps' or 'edm', got '" + parameterization + "'");
  c.edm = parameterization == "edm";
  c.sigmaData = o.number(k, "sigmaData", 0.5);
  auto positive = [&](int64_t v, const char* name) {
    if (v < 1) throw std::invalid_argument(std::string("idm: option '") + name + "' must be a positive integer");
  };
  positive(c.imageChannels, "imageChannels");
  positive(c.steps, "steps");
  positive(c.channels, "channels");
  positive(c.blocks, "blocks");
  positive(c.heads, "heads");
  positive(c.attentionChunk, "attentionChunk");
  positive(c.groups, "groups");
  if (c.multipliers.empty()) throw std::invalid_argument("idm: option 'multipliers' needs at least one level");
  for (int64_t m : c.multipliers) {
    positive(m, "multipliers");
    if ((c.channels * m) % c.groups) throw std::invalid_argument("idm: option 'groups' must divide every level's channels (channels × multiplier)");
  }
  if (c.attention.size() != c.multipliers.size())
    throw std::invalid_argument("idm: option 'attention' needs one 0/1 flag per level (" + std::to_string(c.multipliers.size()) + ")");
  if (!(c.dropout >= 0 && c.dropout < 1)) throw std::invalid_argument("idm: option 'dropout' must lie in [0, 1)");
  if (c.keepSteps < 0 || c.keepSteps > c.steps)
    throw std::invalid_argument("idm: option 'keepSteps' must lie in [0, steps] = [0, " + std::to_string(c.steps) + "], got " + std::to_string(c.keepSteps));
  if (!(c.sigmaData > 0 && std::isfinite(c.sigmaData))) throw std::invalid_argument("idm: option 'sigmaData' must be a positive number");
  if (c.edm && c.channels % 2) throw std::invalid_argument("idm: with parameterization 'edm', option 'channels' must be even (half the noise embedding is cosines)");
  return c;
}

int64_t UNetConfig::sizeMultiple() const { return int64_t(1) << levels(); }

struct UNet::Impl {
  std::shared_ptr<nn::NoiseEmbedding> embedding;  // EDM configurations only
  torch::nn::Conv2d convIn{nullptr}, convOut{nullptr};
  torch::nn::GroupNorm normOut{nullptr};
  std::vector<Level> down, up;
};

namespace {

// Appends a block's couplings: [resnet,] and, where the level has attention, injector, attention, injector.
void addBlock(Level& level, const UNetConfig& c, int64_t index, std::shared_ptr<ResnetBlock> resnet, int64_t skip, bool attention,
              int64_t scale) {
  std::vector<Piece> block;
  if (resnet) block.push_back({resnet, skip, nullptr, nullptr});
  if (attention) {
    auto injectors = level.node->named_children().contains("injectors") ? level.node->named_children()["injectors"] : group(*level.node, "injectors");
    auto attentions = level.node->named_children().contains("attentions") ? level.node->named_children()["attentions"] : group(*level.node, "attentions");
    auto inject = [&](int64_t i) { return child(*injectors, std::to_string(i), std::make_shared<Injector>(level.channels, scale, c.imageChannels, c.steps)); };
    block.push_back({nullptr, -1, inject(2 * index), nullptr});
    block.push_back({nullptr, -1, nullptr, child(*attentions, std::to_string(index), std::make_shared<Transformer>(level.channels, c.groups, c.heads, c.attentionChunk))});
    block.push_back({nullptr, -1, inject(2 * index + 1), nullptr});
  }
  level.blocks.push_back(std::move(block));
}

void addCouplingParameters(Level& level) {
  auto logits = group(*level.node, "coupling_logits");
  int64_t n = 0;
  for (const auto& block : level.blocks)
    for (size_t i = 0; i < block.size(); ++i, ++n) level.logits.push_back(logits->register_parameter(std::to_string(n), at::full({}, couplingLogit(0.5))));
  level.streamScale = level.node->register_parameter("stream_scale", at::ones({}));
}

}  // namespace

UNet::UNet(const UNetConfig& c) : impl_(std::make_shared<Impl>()), config_(c) {
  const int64_t levels = c.levels(), in = 4 * c.imageChannels;
  auto& d = impl_->down;
  auto& u = impl_->up;
  if (c.edm) impl_->embedding = child(*this, "time_embedding", std::make_shared<nn::NoiseEmbedding>(c.channels));
  const int64_t e = c.edm ? impl_->embedding->width() : 0;
  impl_->convIn = conv(*this, "conv_in", in, c.channels, 3);
  auto downNode = group(*this, "down_blocks"), upNode = group(*this, "up_blocks");
  std::vector<int64_t> skipChannels{c.channels};  // block-skip mode: conv_in's output comes first
  int64_t width = c.channels;
  for (int64_t l = 0; l < levels; ++l) {
    Level level;
    level.node = group(*downNode, std::to_string(l));
    level.channels = c.channels * c.multipliers[l];
    const int64_t scale = int64_t(2) << l;
    auto resnets = group(*level.node, "resnets");
    for (int64_t j = 0; j < c.blocks; ++j) {
      auto resnet = child(*resnets, std::to_string(j), std::make_shared<ResnetBlock>(j == 0 ? width : level.channels, level.channels, c.groups, c.dropout, e));
      const bool entry = j == 0 && width != level.channels;
      if (entry) level.entry = resnet;
      addBlock(level, c, j, entry ? nullptr : resnet, -1, c.attention[l] != 0, scale);
      if (c.blockSkips) skipChannels.push_back(level.channels);
    }
    width = level.channels;
    if (l + 1 < levels) {
      level.resample = conv(*group(*group(*level.node, "downsamplers"), "0"), "conv", width, width, 3, 2);
      if (c.blockSkips) skipChannels.push_back(width);
    }
    if (!c.blockSkips) skipChannels.push_back(width);
    addCouplingParameters(level);
    level.skipMerge = level.node->register_parameter("skip_merge", at::zeros({c.blockSkips ? c.blocks : 1}));
    d.push_back(std::move(level));
  }
  if (c.duplicateBottleneck) width *= 2;
  for (int64_t i = 0; i < levels; ++i) {
    const int64_t l = levels - 1 - i;
    Level level;
    level.node = group(*upNode, std::to_string(i));
    level.channels = c.channels * c.multipliers[l];
    const int64_t scale = int64_t(2) << l;
    auto resnets = group(*level.node, "resnets");
    auto popSkip = [&]() {
      const int64_t ch = skipChannels.back();
      skipChannels.pop_back();
      return ch;
    };
    level.entry = child(*resnets, "0", std::make_shared<ResnetBlock>(width + popSkip(), level.channels, c.groups, c.dropout, e));
    addBlock(level, c, 0, nullptr, -1, c.attention[l] != 0, scale);
    for (int64_t j = 1; j <= c.blocks; ++j) {
      const int64_t extra = c.blockSkips ? popSkip() : 0;
      auto resnet = child(*resnets, std::to_string(j), std::make_shared<ResnetBlock>(level.channels + extra, level.channels, c.groups, c.dropout, e));
      addBlock(level, c, j, resnet, c.blockSkips ? j - 1 : -1, c.attention[l] != 0, scale);
    }
    width = level.channels;
    if (l > 0) level.resample = conv(*group(*group(*level.node, "upsamplers"), "0"), "conv", width, width, 3);
    addCouplingParameters(level);
    level.skipMerge = level.node->register_parameter("skip_merge", at::zeros({1}));
    u.push_back(std::move(level));
  }
  impl_->normOut = norm(*this, "conv_norm_out", c.groups, c.channels, 1e-5);
  impl_->convOut = conv(*this, "conv_out", c.channels, in, 3);
  zeroInit(*impl_->convOut);
}

at::Tensor UNet::forward(const at::Tensor& x, int64_t step, const Measurement& m, const at::Tensor& cNoise) {
  const UNetConfig& c = config_;
  if (c.edm != cNoise.defined()) throw std::logic_error("idm: the U-Net takes c_noise exactly when it has a noise embedding");
  // The noise embedding is a side input of every sequence (so its gradient reaches the embedding and the
  // schedule), just before Aᵀy, and the last input of every checkpointed resnet.
  const at::Tensor emb = c.edm ? impl_->embedding->forward(cNoise).expand({x.size(0), -1}) : at::Tensor();
  const bool rng = is_training() && c.dropout > 0;
  const SequenceOptions sequence{c.reversible, rng};
  // Non-invertible layers keep only their input and recompute in backward.
  auto saved = [&](std::vector<at::Tensor> params, CheckpointBody fn, std::vector<at::Tensor> inputs) {
    return checkpoint(fn, inputs, params, c.reversible, rng);
  };
  auto couplings = [&](const Level& level, size_t first, size_t last, int64_t e) {
    std::vector<Coupling> out;
    size_t n = 0;
    for (size_t b = 0; b < level.blocks.size(); ++b)
      for (const Piece& p : level.blocks[b]) {
        if (b >= first && b < last) {
          CouplingBody body;
          if (p.resnet && p.skip >= 0)
            body = [r = p.resnet, s = p.skip, e](const at::Tensor& x, const std::vector<at::Tensor>& sides) {
              return r->forward(at::cat({x, sides[s]}, 1), e >= 0 ? sides[e] : at::Tensor());
            };
          else if (p.resnet)
            body = [r = p.resnet, e](const at::Tensor& x, const std::vector<at::Tensor>& sides) { return r->forward(x, e >= 0 ? sides[e] : at::Tensor()); };
          else if (p.injector)
            body = [i = p.injector, step, op = m.op](const at::Tensor& x, const std::vector<at::Tensor>& sides) {
              return i->forward(x, step, *op, sides.back());
            };
          else
            body = [a = p.attention](const at::Tensor& x, const std::vector<at::Tensor>&) { return a->forward(x); };
          out.push_back({body, level.logits[n]});
        }
        ++n;
      }
    return out;
  };

  at::Tensor h = saved(impl_->convIn->parameters(), [conv = impl_->convIn](const std::vector<at::Tensor>& in) mutable { return conv(in[0]); }, {at::pixel_unshuffle(x, 2)});
  std::vector<at::Tensor> skips;
  if (c.blockSkips) skips.push_back(h);
  // Inputs of a checkpointed layer, the embedding last where there is one.
  auto with = [&](std::vector<at::Tensor> inputs) {
    if (c.edm) inputs.push_back(emb);
    return inputs;
  };
  const std::vector<at::Tensor> downSides = c.edm ? std::vector<at::Tensor>{emb, m.adjointY} : std::vector<at::Tensor>{m.adjointY};
  for (Level& level : impl_->down) {
    if (level.entry)
      h = saved(level.entry->parameters(), [e = level.entry, edm = c.edm](const std::vector<at::Tensor>& in) { return e->forward(in[0], edm ? in[1] : at::Tensor()); }, with({h}));
    at::Tensor a = h, b = level.streamScale * h;
    const auto params = level.node->parameters();
    if (c.blockSkips) {
      for (size_t j = 0; j < level.blocks.size(); ++j) {
        std::tie(a, b) = runCouplings(couplings(level, j, j + 1, c.edm ? 0 : -1), a, b, downSides, params, sequence);
        h = a + level.skipMerge[j] * b;
        skips.push_back(h);
      }
    } else {
      std::tie(a, b) = runCouplings(couplings(level, 0, level.blocks.size(), c.edm ? 0 : -1), a, b, downSides, params, sequence);
      h = a + level.skipMerge[0] * b;
      skips.push_back(h);
    }
    if (level.resample) {
      h = saved(level.resample->parameters(), [r = level.resample](const std::vector<at::Tensor>& in) mutable { return r(in[0]); }, {h});
      if (c.blockSkips) skips.push_back(h);
    }
  }
  if (c.duplicateBottleneck) h = at::cat({h, h}, 1);
  for (Level& level : impl_->up) {
    const at::Tensor skip = skips.back();
    skips.pop_back();
    h = saved(level.entry->parameters(), [e = level.entry, edm = c.edm](const std::vector<at::Tensor>& in) { return e->forward(at::cat({in[0], in[1]}, 1), edm ? in[2] : at::Tensor()); },
              with({h, skip}));
    std::vector<at::Tensor> sides;  // the skips block resnets read, then Aᵀy for the injectors
    if (c.blockSkips)
      for (int64_t j = 0; j < c.blocks; ++j) {
        sides.push_back(skips.back());
        skips.pop_back();
      }
    const int64_t e = c.edm ? static_cast<int64_t>(sides.size()) : -1;
    if (c.edm) sides.push_back(emb);
    sides.push_back(m.adjointY);
    at::Tensor a, b;
    std::tie(a, b) = runCouplings(couplings(level, 0, level.blocks.size(), e), h, level.streamScale * h, sides, level.node->parameters(), sequence);
    h = a + level.skipMerge[0] * b;
    if (level.resample)
      h = saved(level.resample->parameters(), [r = level.resample](const std::vector<at::Tensor>& in) mutable { return r(at::upsample_nearest2d(in[0], {in[0].size(2) * 2, in[0].size(3) * 2})); }, {h});
  }
  auto head = impl_->normOut->parameters();
  for (const auto& p : impl_->convOut->parameters()) head.push_back(p);
  const at::Tensor eps = saved(head, [n = impl_->normOut, o = impl_->convOut](const std::vector<at::Tensor>& in) mutable { return o(at::silu(n(in[0]))); }, {h});
  return at::pixel_shuffle(eps, 2);
}

}  // namespace invdiff::idm
