// Blur as circular convolution computed in Fourier: A x = F⁻¹(K̂ · F x), Aᵀ y = F⁻¹(conj K̂ · F y) and
// A⁺ y = F⁻¹(conj K̂ / |K̂|² · F y) on frequencies where |K̂| > pinvThreshold · max|K̂| (zero elsewhere),
// which is exact for the circulant operator up to that threshold. Kernels: Gaussian (shared) or motion
// (a seeded random trajectory per sample).
#include <cmath>
#include <stdexcept>

#include "core/operators/operator.h"

namespace invdiff::operators {
namespace {

// The largest gain of A⁺ inside a network (networkPinv): frequencies the kernel passes at less than 1/100
// of its peak are dropped there, as InvFusion's own blur pseudo-inverse does (papers.md §2.11).
constexpr double kNetworkGain = 100;

at::Tensor gaussianKernel(int64_t size, double sigma) {
  at::Tensor r = at::arange(size, at::kDouble) - (size - 1) / 2.0;
  at::Tensor g = at::exp(-(r * r) / (2 * sigma * sigma));
  at::Tensor k = at::outer(g, g);
  return k / k.sum();
}

// A camera-shake trajectory: a random walk whose velocity drifts, with occasional jerks; `intensity` in
// [0, 1] scales how erratic it is. Splatted bilinearly onto size×size and normalised to sum 1.
at::Tensor motionKernel(int64_t size, double intensity, at::Generator& g) {
  const int64_t points = 4 * size;
  auto uniform = [&]() { return at::rand({1}, g, at::kDouble).item<double>(); };
  auto normal = [&]() { return at::randn({1}, g, at::kDouble).item<double>(); };
  const double pi = 3.14159265358979323846;
  double angle = 2 * pi * uniform();
  double vx = std::cos(angle), vy = std::sin(angle);
  std::vector<double> xs{0}, ys{0};
  for (int64_t i = 1; i < points; ++i) {
    vx += intensity * 0.7 * normal();
    vy += intensity * 0.7 * normal();
    if (uniform() < 0.05 * intensity) {  // a jerk: reverse direction
      vx = -vx;
      vy = -vy;
    }
    const double speed = std::sqrt(vx * vx + vy * vy) + 1e-12;
    xs.push_back(xs.back() + vx / speed);
    ys.push_back(ys.back() + vy / speed);
  }
  // Fit the path into the kernel window.
  const auto [minX, maxX] = std::minmax_element(xs.begin(), xs.end());
  const auto [minY, maxY] = std::minmax_element(ys.begin(), ys.end());
  const double span = std::max(*maxX - *minX, *maxY - *minY) + 1e-12;
  const double scale = (size - 1) / span;
  const double cx = (*maxX + *minX) / 2, cy = (*maxY + *minY) / 2;
  at::Tensor k = at::zeros({size, size}, at::kDouble);
  auto acc = k.accessor<double, 2>();
  for (size_t i = 0; i < xs.size(); ++i) {
    const double x = (xs[i] - cx) * scale + (size - 1) / 2.0, y = (ys[i] - cy) * scale + (size - 1) / 2.0;
    const int64_t x0 = static_cast<int64_t>(std::floor(x)), y0 = static_cast<int64_t>(std::floor(y));
    const double fx = x - x0, fy = y - y0;
    for (int dy = 0; dy < 2; ++dy)
      for (int dx = 0; dx < 2; ++dx) {
        const int64_t xi = x0 + dx, yi = y0 + dy;
        if (xi >= 0 && xi < size && yi >= 0 && yi < size) acc[yi][xi] += (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
      }
  }
  return k / k.sum();
}

class BlurOperator final : public Operator {
 public:
  // kernels: B×k×k (B may be 1), each summing to 1.
  BlurOperator(Setup s, const at::Tensor& kernels, double threshold) : Operator(std::move(s)), threshold_(threshold) {
    const int64_t h = setup_.imageShape[1], w = setup_.imageShape[2], k = kernels.size(-1);
    // Embed each kernel in an H×W grid with its centre at the origin, so the blur does not shift the image.
    at::Tensor grid = at::zeros({kernels.size(0), h, w}, at::kDouble);
    grid.narrow(1, 0, k).narrow(2, 0, k).copy_(kernels);
    grid = grid.roll({-(k / 2), -(k / 2)}, {1, 2});
    spectrum_ = at::fft_fft2(grid);
    const at::Tensor magnitude = spectrum_.abs();
    const at::Tensor keep = magnitude > threshold * magnitude.amax({1, 2}, true);
    inverse_ = at::where(keep, spectrum_.conj() / (magnitude * magnitude).clamp_min(1e-300), at::zeros_like(spectrum_));
    networkInverse_ = at::where(magnitude * kNetworkGain >= magnitude.amax({1, 2}, true), inverse_, at::zeros_like(inverse_));
  }

  std::vector<int64_t> measurementShape() const override { return setup_.imageShape; }
  std::string closedFormPinv() const override { return "Fourier, frequencies with |K̂| > " + c10::str(threshold_) + "·max|K̂| (pinvThreshold)"; }

 protected:
  at::Tensor applyA(const at::Tensor& x) const override { return filter(x, spectrum_, false); }
  at::Tensor applyAt(const at::Tensor& y) const override { return filter(y, spectrum_, true); }
  at::Tensor applyPinv(const at::Tensor& y) const override { return filter(y, inverse_, false); }
  at::Tensor applyNetworkPinv(const at::Tensor& y) const override { return filter(y, networkInverse_, false); }

 private:
  // Multiplies by a per-sample frequency response (B×H×W complex), in the input's precision.
  at::Tensor filter(const at::Tensor& x, const at::Tensor& response, bool conjugate) const {
    const at::Tensor r = perSample(likeComplex(response, x).unsqueeze(1), 5);
    return at::real(at::fft_ifft2(at::fft_fft2(x) * (conjugate ? r.conj() : r)));
  }

  at::Tensor spectrum_, inverse_, networkInverse_;
  double threshold_;
};

// InvFussion's strided motion blur (papers.md §2.2, 3): linear convolution on a zero-padded 2H×2W grid in
// Fourier, decimation by stride s as the average of the s×s spectral aliases (the same as keeping every s-th
// sample), real and imaginary parts as measurements [2C, 2H/s, 2W/s]. The closed-form A⁺ divides by the
// alias mean of |K̂|² (σ_n-regularised when noisy), tiles back, applies conj K̂ and crops: exact for the
// circular operator on the padded grid, approximate for this cropped one; pinv: 'cg' is exact.
class StridedBlurOperator final : public Operator {
 public:
  StridedBlurOperator(Setup s, const at::Tensor& kernels, int64_t stride) : Operator(std::move(s)), s_(stride) {
    const int64_t h = setup_.imageShape[1], w = setup_.imageShape[2], k = kernels.size(-1);
    at::Tensor grid = at::zeros({kernels.size(0), 2 * h, 2 * w}, at::kDouble);
    grid.narrow(1, 0, k).narrow(2, 0, k).copy_(kernels);
    grid = grid.roll({-(k / 2), -(k / 2)}, {1, 2});  // centred, so the blur does not shift the image
    spectrum_ = at::fft_fft2(grid);
    const at::Tensor magnitude = spectrum_.abs();
    const at::Tensor range = magnitude.amax({1, 2}, true) - magnitude.amin({1, 2}, true);
    spectrum_ = at::where(magnitude < 1e-4 * range, at::zeros_like(spectrum_), spectrum_);
    const at::Tensor power = aliasMean(spectrum_.abs().square());
    const double regularizer = setup_.noiseStd * setup_.noiseStd * s_ * s_ / static_cast<double>(4 * h * w);
    inversePower_ = at::where(power > 1e-12 * power.amax({1, 2}, true), 1.0 / (power + regularizer), at::zeros_like(power));
    // Noiseless, and power below peak/gain² dropped: the network's A⁺ gains at most kNetworkGain.
    networkInversePower_ = at::where(power * (kNetworkGain * kNetworkGain) >= power.amax({1, 2}, true), 1.0 / power, at::zeros_like(power));
  }

  std::vector<int64_t> measurementShape() const override {
    return {2 * setup_.imageShape[0], 2 * setup_.imageShape[1] / s_, 2 * setup_.imageShape[2] / s_};
  }
  std::string closedFormPinv() const override { return "closed form on the padded grid (approximate; pinv: 'cg' is exact to cgTolerance)"; }
  bool closedFormExact() const override { return false; }

 protected:
  at::Tensor applyA(const at::Tensor& x) const override {
    const int64_t h = setup_.imageShape[1], w = setup_.imageShape[2];
    const at::Tensor padded = at::constant_pad_nd(x, {0, w, 0, h});
    const at::Tensor z = at::fft_fft2(padded) * response(spectrum_, x);  // cached casts, see Operator::cast
    return toChannels(aliasMean(z));
  }
  at::Tensor applyAt(const at::Tensor& y) const override {
    const at::Tensor u = fromChannels(y);
    const double n = 4.0 * setup_.imageShape[1] * setup_.imageShape[2];
    const at::Tensor tiled = u.repeat({1, 1, 1, s_, s_}) / static_cast<double>(s_ * s_);
    return crop(at::real(at::fft_ifft2(tiled * response(spectrum_, y).conj())) * n);
  }
  at::Tensor applyPinv(const at::Tensor& y) const override { return inverse(y, inversePower_); }
  at::Tensor applyNetworkPinv(const at::Tensor& y) const override { return inverse(y, networkInversePower_); }

 private:
  at::Tensor inverse(const at::Tensor& y, const at::Tensor& inversePower) const {
    const at::Tensor u = fromChannels(y) * response(inversePower, y);
    return crop(at::real(at::fft_ifft2(u.repeat({1, 1, 1, s_, s_}) * response(spectrum_, y).conj())));
  }
  // Average over the s×s aliases of the last two dims: (…, s·a, s·b) → (…, a, b).
  at::Tensor aliasMean(const at::Tensor& t) const {
    const int64_t a = t.size(-2) / s_, b = t.size(-1) / s_;
    std::vector<int64_t> shape(t.sizes().begin(), t.sizes().end() - 2);
    const auto d = static_cast<int64_t>(shape.size());
    shape.insert(shape.end(), {s_, a, s_, b});
    // One dim at a time, on the real view: ATen's reduction over both alias dims at once, complex, took 10×
    // as long (half of strided blur's A, a fifth of an InvFussion NFE, whose Feature Degradation layers
    // apply A at every level).
    const double n = static_cast<double>(s_ * s_);
    if (!t.is_complex()) return t.reshape(shape).sum(d + 2).sum(d) / n;
    shape.push_back(2);
    return at::view_as_complex(at::view_as_real(t).reshape(shape).sum(d + 2).sum(d)) / n;
  }
  // A per-sample (B×…) table in the precision of x, broadcast over K and C.
  at::Tensor response(const at::Tensor& table, const at::Tensor& x) const {
    return perSample((table.is_complex() ? likeComplex(table, x) : like(table, x)).unsqueeze(1), 5);
  }
  // Complex B×K×C×a×b ↔ real B×K×2C×a×b (re₀, im₀, re₁, im₁, …).
  static at::Tensor toChannels(const at::Tensor& z) { return at::view_as_real(z).permute({0, 1, 2, 5, 3, 4}).flatten(2, 3); }
  at::Tensor fromChannels(const at::Tensor& y) const {
    const at::Tensor parts = y.unflatten(2, {setup_.imageShape[0], 2}).permute({0, 1, 2, 4, 5, 3}).contiguous();
    return at::view_as_complex(y.scalar_type() == at::kDouble ? parts : parts.to(at::kFloat));
  }
  at::Tensor crop(const at::Tensor& t) const { return t.narrow(-2, 0, setup_.imageShape[1]).narrow(-1, 0, setup_.imageShape[2]); }

  int64_t s_;
  at::Tensor spectrum_, inversePower_, networkInversePower_;
};

}  // namespace

namespace {

// The caller's kernels (option 'kernel' as a tensor): k×k or B×k×k with B = 1 or the batch, k ≤ min(H, W),
// used as given (not normalised), so results compare with other code on the same kernels.
at::Tensor givenKernels(const Setup& s) {
  auto it = s.tensors.find("kernel");
  if (it == s.tensors.end()) return {};
  at::Tensor k = it->second.detach().to(at::kCPU, at::kDouble);
  if (k.dim() == 2) k = k.unsqueeze(0);
  const int64_t limit = std::min(s.imageShape[1], s.imageShape[2]);
  if (k.dim() != 3 || k.size(1) != k.size(2) || k.size(1) > limit || (k.size(0) != 1 && k.size(0) != s.batch))
    throw std::invalid_argument(s.family + ": option 'kernel' as a tensor must be k×k or B×k×k with k <= min(H, W) = " + std::to_string(limit) +
                                " and B = 1 or the batch, got " + c10::str(it->second.sizes()));
  if (!at::isfinite(k).all().item<bool>() || (k.flatten(1).abs().sum(1) == 0).any().item<bool>())
    throw std::invalid_argument(s.family + ": option 'kernel' must be finite and not all zeros");
  return k;
}

}  // namespace

// Motion kernels of size min(H, W)/2 (intensity per sample uniform in [0, 1] unless given), convolved with
// an isotropic Gaussian of std = stride at "same" size, so the kernel stays min(H, W)/2 as in the official
// code (papers.md §2.11), normalised; or the caller's kernels.
std::shared_ptr<Operator> makeStridedBlur(Setup s) {
  const int64_t stride = s.options.integer(s.family, "stride", 2);
  const int64_t h = s.imageShape[1], w = s.imageShape[2];
  if (stride != 2 && stride != 4 && stride != 8) throw std::invalid_argument("stridedBlur: option 'stride' must be 2, 4 or 8");
  if ((2 * h) % stride || (2 * w) % stride) throw std::invalid_argument("stridedBlur: option 'imageShape' must have 2H and 2W divisible by the stride");
  if (at::Tensor given = givenKernels(s); given.defined()) return std::make_shared<StridedBlurOperator>(std::move(s), given, stride);
  const int64_t size = std::max<int64_t>(3, std::min(h, w) / 2);
  const at::Tensor gaussian = gaussianKernel(std::min<int64_t>(2 * 3 * stride + 1, 2 * size + 1), static_cast<double>(stride));
  std::vector<at::Tensor> kernels;
  for (int64_t b = 0; b < s.batch; ++b) {
    at::Generator g = s.generatorFor(b);
    const double intensity = s.options.has("intensity") ? s.options.number(s.family, "intensity", 0.5) : at::rand({1}, g, at::kDouble).item<double>();
    const at::Tensor motion = motionKernel(size, intensity, g);
    at::Tensor k = at::conv2d(motion.view({1, 1, size, size}), gaussian.flip({0, 1}).view({1, 1, gaussian.size(0), gaussian.size(1)}), {}, 1,
                              gaussian.size(0) / 2);
    k = k.squeeze(0).squeeze(0);
    kernels.push_back(k / k.sum());
  }
  return std::make_shared<StridedBlurOperator>(std::move(s), at::stack(kernels), stride);
}

std::shared_ptr<Operator> makeBlur(Setup s) {
  const std::string kind = s.options.string(s.family, "kernel", "gaussian");
  const int64_t h = s.imageShape[1], w = s.imageShape[2];
  const double threshold = s.options.number(s.family, "pinvThreshold", 1e-6);
  if (!(threshold >= 0 && threshold < 1)) throw std::invalid_argument("blur: option 'pinvThreshold' must lie in [0, 1)");
  at::Tensor kernels = givenKernels(s);
  if (kernels.defined()) return std::make_shared<BlurOperator>(std::move(s), kernels, threshold);
  if (kind == "gaussian") {
    const double sigma = s.options.number(s.family, "sigma", 2.0);
    if (!(sigma > 0)) throw std::invalid_argument("blur: option 'sigma' must be positive");
    const int64_t size = s.options.integer(s.family, "kernelSize", std::min<int64_t>(2 * static_cast<int64_t>(std::ceil(3 * sigma)) + 1, std::min(h, w)));
    if (size < 1 || size > std::min(h, w)) throw std::invalid_argument("blur: option 'kernelSize' must lie in [1, min(H, W)]");
    kernels = gaussianKernel(size, sigma).unsqueeze(0);
  } else if (kind == "motion") {
    const int64_t size = s.options.integer(s.family, "kernelSize", std::min<int64_t>(15, std::min(h, w)));
    if (size < 3 || size > std::min(h, w)) throw std::invalid_argument("blur: option 'kernelSize' must lie in [3, min(H, W)] for motion blur");
    const double intensity = s.options.number(s.family, "intensity", 0.5);
    if (!(intensity >= 0 && intensity <= 1)) throw std::invalid_argument("blur: option 'intensity' must lie in [0, 1]");
    std::vector<at::Tensor> list;
    for (int64_t b = 0; b < s.batch; ++b) {
      at::Generator g = s.generatorFor(b);
      list.push_back(motionKernel(size, intensity, g));
    }
    kernels = at::stack(list);
  } else {
    throw std::invalid_argument("blur: option 'kernel' must be 'gaussian' or 'motion', got '" + kind + "'");
  }
  return std::make_shared<BlurOperator>(std::move(s), kernels, threshold);
}

}  // namespace invdiff::operators
