// Single-coil MRI: y = M ⊙ F x with F the unitary 2-D FFT and M a k-space sampling mask; measurements are
// real and imaginary parts as channels, [2C, H, W] (re₀, im₀, re₁, im₁, ...). Generated masks are
// conjugate-symmetric (M(k) = M(−k)), which for real images makes AᵀA a projection and A⁺ = Aᵀ exactly;
// a caller's mask that is not symmetric gets A⁺ by conjugate gradients.
#include <cmath>
#include <set>
#include <stdexcept>

#include "core/operators/operator.h"

namespace invdiff::operators {
namespace {

// Index of −k on an n-point FFT grid.
int64_t mirror(int64_t k, int64_t n) { return (n - k) % n; }

// Cartesian: phase-encode rows, a fully sampled centre of centreFraction·H rows, the rest random pairs
// (k, −k) or equispaced, until about H / acceleration rows are sampled.
at::Tensor cartesianMask(int64_t h, int64_t w, double acceleration, double centreFraction, bool random, at::Generator& g) {
  std::set<int64_t> rows;
  const int64_t centre = std::max<int64_t>(1, static_cast<int64_t>(std::round(h * centreFraction)));
  for (int64_t d = -(centre / 2); d < centre - centre / 2; ++d) {
    const int64_t k = ((d % h) + h) % h;
    rows.insert(k);
    rows.insert(mirror(k, h));
  }
  const auto target = static_cast<size_t>(std::round(h / acceleration));
  if (random) {
    at::Tensor order = at::randperm(h / 2 + 1, g, at::kLong);
    for (int64_t i = 0; i < order.numel() && rows.size() < target; ++i) {
      const int64_t k = order[i].item<int64_t>();
      rows.insert(k);
      rows.insert(mirror(k, h));
    }
  } else {
    const auto step = std::max<int64_t>(1, static_cast<int64_t>(std::round(acceleration)));
    for (int64_t k = 0; k < h; k += step) {
      rows.insert(k);
      rows.insert(mirror(k, h));
    }
  }
  at::Tensor mask = at::zeros({h, w}, at::kDouble);
  for (int64_t k : rows) mask[k].fill_(1);
  return mask;
}

// Radial: `spokes` lines through the k-space centre at angles π j / spokes plus a random rotation,
// rasterised symmetrically about the centre, then moved to FFT order.
at::Tensor radialMask(int64_t h, int64_t w, int64_t spokes, at::Generator& g) {
  const double pi = 3.14159265358979323846;
  const double rotation = at::rand({1}, g, at::kDouble).item<double>() * pi / spokes;
  at::Tensor centred = at::zeros({h, w}, at::kDouble);
  auto acc = centred.accessor<double, 2>();
  const double radius = std::hypot(h, w) / 2;
  for (int64_t j = 0; j < spokes; ++j) {
    const double angle = rotation + pi * j / spokes;
    for (double t = 0; t <= radius; t += 0.25) {
      const double dy = std::round(t * std::sin(angle)), dx = std::round(t * std::cos(angle));
      for (const double sign : {1.0, -1.0}) {  // both halves, so the mask is point-symmetric
        const auto y = static_cast<int64_t>(h / 2 + sign * dy), x = static_cast<int64_t>(w / 2 + sign * dx);
        if (y >= 0 && y < h && x >= 0 && x < w) acc[y][x] = 1;
      }
    }
  }
  return at::fft_ifftshift(centred);
}

// M(−k) on the FFT grid, for B×H×W masks.
at::Tensor mirrored(const at::Tensor& masks) { return masks.flip({1, 2}).roll({1, 1}, {1, 2}); }

bool conjugateSymmetric(const at::Tensor& masks) { return at::equal(masks, mirrored(masks)); }

class MriOperator final : public Operator {
 public:
  MriOperator(Setup s, at::Tensor masks) : Operator(std::move(s)), masks_(std::move(masks)) {
    if (!conjugateSymmetric(masks_)) useCG_ = true;
  }

  std::vector<int64_t> measurementShape() const override { return {2 * setup_.imageShape[0], setup_.imageShape[1], setup_.imageShape[2]}; }
  std::string closedFormPinv() const override { return "exact (A⁺ = Aᵀ for a conjugate-symmetric mask)"; }

 protected:
  at::Tensor applyA(const at::Tensor& x) const override {
    const at::Tensor k = at::fft_fft2(x, c10::nullopt, {-2, -1}, "ortho") * mask(x);
    // B×K×C×H×W complex → B×K×C×2×H×W real → B×K×2C×H×W
    return at::view_as_real(k).permute({0, 1, 2, 5, 3, 4}).flatten(2, 3);
  }
  at::Tensor applyAt(const at::Tensor& y) const override {
    const int64_t c = setup_.imageShape[0], h = setup_.imageShape[1], w = setup_.imageShape[2];
    const at::Tensor parts = y.reshape({y.size(0), y.size(1), c, 2, h, w}).permute({0, 1, 2, 4, 5, 3}).contiguous();
    const at::Tensor k = at::view_as_complex(parts) * mask(y);
    return at::real(at::fft_ifft2(k, c10::nullopt, {-2, -1}, "ortho"));
  }
  at::Tensor applyPinv(const at::Tensor& y) const override { return applyAt(y); }

 private:
  at::Tensor mask(const at::Tensor& x) const { return perSample(like(masks_, x).unsqueeze(1), 5); }
  at::Tensor masks_;
};

}  // namespace

std::shared_ptr<Operator> makeMri(Setup s) {
  const int64_t h = s.imageShape[1], w = s.imageShape[2];
  at::Tensor masks = s.maskOption("mask");
  if (masks.defined()) return std::make_shared<MriOperator>(std::move(s), masks);
  const std::string kind = s.options.string(s.family, "sampling", "cartesian");
  const double acceleration = s.options.number(s.family, "acceleration", 4);
  if (!(acceleration >= 1)) throw std::invalid_argument("mri: option 'acceleration' must be at least 1");
  std::vector<at::Tensor> list;
  if (kind == "cartesian") {
    const double centre = s.options.number(s.family, "centreFraction", acceleration >= 8 ? 0.04 : 0.08);
    if (!(centre > 0 && centre <= 1)) throw std::invalid_argument("mri: option 'centreFraction' must lie in (0, 1]");
    const std::string lines = s.options.string(s.family, "lines", "random");
    if (lines != "random" && lines != "equispaced") throw std::invalid_argument("mri: option 'lines' must be 'random' or 'equispaced'");
    for (int64_t b = 0; b < s.batch; ++b) {
      at::Generator g = s.generatorFor(b);
      list.push_back(cartesianMask(h, w, acceleration, centre, lines == "random", g));
    }
  } else if (kind == "radial") {
    const double pi = 3.14159265358979323846;
    const int64_t spokes = s.options.integer(s.family, "spokes", std::max<int64_t>(1, static_cast<int64_t>(std::round(pi / 2 * std::max(h, w) / acceleration))));
    if (spokes < 1) throw std::invalid_argument("mri: option 'spokes' must be positive");
    s.limitWork("spokes", static_cast<long double>(s.batch) * spokes * 2 * (h + w), "batch × spokes × 2(H + W) rasterised points");
    for (int64_t b = 0; b < s.batch; ++b) {
      at::Generator g = s.generatorFor(b);
      list.push_back(radialMask(h, w, spokes, g));
    }
  } else {
    throw std::invalid_argument("mri: option 'sampling' must be 'cartesian' or 'radial', got '" + kind + "'");
  }
  // Rasterising can miss a mirror point where k wraps at the Nyquist edge: add it.
  at::Tensor generated = at::stack(list);
  return std::make_shared<MriOperator>(std::move(s), at::maximum(generated, mirrored(generated)));
}

}  // namespace invdiff::operators
