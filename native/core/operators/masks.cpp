// Operators that keep a subset of pixels: y = m ⊙ x with a 0/1 mask shared across channels, so
// Aᵀ = A⁺ = A (a projection). none (m = 0) and denoising (m = 1) are the two extremes.
#include <cmath>
#include <stdexcept>

#include "core/operators/operator.h"

namespace invdiff::operators {
namespace {

class MaskOperator final : public Operator {
 public:
  // mask: B×H×W in float64, one per batch element (B may be 1).
  MaskOperator(Setup s, at::Tensor mask) : Operator(std::move(s)), mask_(std::move(mask)) {}

  std::vector<int64_t> measurementShape() const override { return setup_.imageShape; }

 protected:
  at::Tensor applyA(const at::Tensor& x) const override { return x * perSample(like(mask_, x).unsqueeze(1), 5); }
  at::Tensor applyAt(const at::Tensor& y) const override { return applyA(y); }
  at::Tensor applyPinv(const at::Tensor& y) const override { return applyA(y); }
  // x + m⊙(y − m⊙x) = x + m⊙(y − x) for a 0/1 mask: two ops instead of four.
  at::Tensor applyProject(const at::Tensor& x, const at::Tensor& y) const override {
    if (useCG_) return Operator::applyProject(x, y);
    return at::addcmul(x, perSample(like(mask_, x).unsqueeze(1), 5), y - x);
  }

 private:
  at::Tensor mask_;
};

int64_t height(const Setup& s) { return s.imageShape[1]; }
int64_t width(const Setup& s) { return s.imageShape[2]; }

// A random integer in [0, n) from a per-sample generator.
int64_t randomBelow(int64_t n, at::Generator& g) { return n <= 1 ? 0 : at::randint(n, {1}, g, at::kLong).item<int64_t>(); }

std::vector<int64_t> rectangle(const Setup& s, const char* key) {
  const std::vector<int64_t> size = s.options.list(s.family, key, {height(s) / 2, width(s) / 2});
  if (size.size() != 2 || size[0] < 1 || size[1] < 1 || size[0] > height(s) || size[1] > width(s))
    throw std::invalid_argument(s.family + ": option '" + key + "' must be [h, w] with 1 <= h <= " + std::to_string(height(s)) + " and 1 <= w <= " +
                                std::to_string(width(s)));
  return size;
}

// One mask per batch element; `draw` makes element b's H×W mask from its generator.
template <class Draw>
at::Tensor masks(const Setup& s, Draw draw) {
  std::vector<at::Tensor> out;
  for (int64_t b = 0; b < s.batch; ++b) {
    at::Generator g = s.generatorFor(b);
    out.push_back(draw(g));
  }
  return at::stack(out);
}

}  // namespace

std::shared_ptr<Operator> makeNone(Setup s) {
  at::Tensor m = at::zeros({1, height(s), width(s)}, at::kDouble);
  return std::make_shared<MaskOperator>(std::move(s), m);
}

std::shared_ptr<Operator> makeDenoising(Setup s) {
  at::Tensor m = at::ones({1, height(s), width(s)}, at::kDouble);
  return std::make_shared<MaskOperator>(std::move(s), m);
}

// Random pixels (patchSize 1) or random patches, each kept with probability `keep`; or the caller's mask.
std::shared_ptr<Operator> makeInpainting(Setup s) {
  at::Tensor given = s.maskOption("mask");
  if (given.defined()) return std::make_shared<MaskOperator>(std::move(s), given);
  const double keep = s.options.number(s.family, "keep", 0.5);
  if (!(keep > 0 && keep <= 1)) throw std::invalid_argument("inpainting: option 'keep' (the fraction of pixels kept) must lie in (0, 1]");
  const int64_t patch = s.options.integer(s.family, "patchSize", 1);
  if (patch < 1) throw std::invalid_argument("inpainting: option 'patchSize' must be a positive integer");
  // InvFussion's MissingPatches (papers.md §2.2, 2): patch size 2^u, u ~ U{0..log2 min(H, W)}, keep
  // probability p ~ U(0, 0.1), redrawn until a patch is visible. Drawn per sample here (the paper draws
  // them per batch) so that element b stays the operator of seed + b.
  const bool randomPatches = s.options.flag(s.family, "randomPatches", false);
  const int64_t h = height(s), w = width(s);
  at::Tensor m = masks(s, [&](at::Generator& g) {
    const int64_t size = randomPatches ? int64_t(1) << randomBelow(static_cast<int64_t>(std::log2(std::min(h, w))) + 1, g) : patch;
    const int64_t ph = (h + size - 1) / size, pw = (w + size - 1) / size;
    at::Tensor coarse;
    for (int attempt = 0; attempt < 1000; ++attempt) {
      const double p = randomPatches ? 0.1 * at::rand({1}, g, at::kDouble).item<double>() : keep;
      coarse = (at::rand({ph, pw}, g, at::kDouble) < p).to(at::kDouble);
      if (!randomPatches || coarse.sum().item<double>() > 0) break;
    }
    return coarse.repeat_interleave(size, 0).repeat_interleave(size, 1).narrow(0, 0, h).narrow(1, 0, w);
  });
  return std::make_shared<MaskOperator>(std::move(s), m);
}

namespace {

// One rectangle of the option's size at a random position per sample, set to `inside` on a background of
// 1 − inside.
std::shared_ptr<Operator> makeRectangle(Setup s, const char* sizeOption, double inside) {
  const auto size = rectangle(s, sizeOption);
  const int64_t h = height(s), w = width(s);
  at::Tensor m = masks(s, [&](at::Generator& g) {
    at::Tensor mask = at::full({h, w}, 1 - inside, at::kDouble);
    const int64_t top = randomBelow(h - size[0] + 1, g), left = randomBelow(w - size[1] + 1, g);
    mask.narrow(0, top, size[0]).narrow(1, left, size[1]).fill_(inside);
    return mask;
  });
  return std::make_shared<MaskOperator>(std::move(s), m);
}

}  // namespace

// A hidden rectangle of boxSize.
std::shared_ptr<Operator> makeBoxInpainting(Setup s) { return makeRectangle(std::move(s), "boxSize", 0); }

// One visible rectangle of visibleSize; everything else is hidden.
std::shared_ptr<Operator> makeOutpainting(Setup s) { return makeRectangle(std::move(s), "visibleSize", 1); }

}  // namespace invdiff::operators
