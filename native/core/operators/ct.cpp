// Sparse-view CT: the parallel-beam Radon transform with `views` angles in [0, π), each ray integral
// sampled at unit steps with bilinear weights. A is stored as a sparse matrix, so Aᵀ (back-projection) is
// its exact transpose. A⁺ is filtered back-projection by default, the fast approximation (a 256² CG solve
// takes minutes); pinv: 'cg' runs conjugate gradients on the normal equations started from it (in the
// range of Aᵀ, so CG still reaches the minimum-norm solution).
#include <cmath>
#include <stdexcept>

#include "core/operators/operator.h"

namespace invdiff::operators {
namespace {

const double kPi = 3.14159265358979323846;

// (views·detectors) × (H·W) projection matrix, coalesced, float64.
at::Tensor radonMatrix(int64_t h, int64_t w, int64_t views, int64_t detectors) {
  std::vector<int64_t> rows, cols;
  std::vector<double> values;
  const double radius = detectors / 2.0;
  for (int64_t v = 0; v < views; ++v) {
    const double theta = kPi * v / views, c = std::cos(theta), s = std::sin(theta);
    for (int64_t d = 0; d < detectors; ++d) {
      const double offset = d - (detectors - 1) / 2.0;
      for (double t = -radius; t <= radius; t += 1.0) {
        // Ray point in image coordinates (x to the right, y down), origin at the image centre.
        const double x = offset * c - t * s + (w - 1) / 2.0, y = offset * s + t * c + (h - 1) / 2.0;
        const auto x0 = static_cast<int64_t>(std::floor(x)), y0 = static_cast<int64_t>(std::floor(y));
        const double fx = x - x0, fy = y - y0;
        for (int dy = 0; dy < 2; ++dy)
          for (int dx = 0; dx < 2; ++dx) {
            const int64_t xi = x0 + dx, yi = y0 + dy;
            const double weight = (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
            if (xi < 0 || xi >= w || yi < 0 || yi >= h || weight == 0) continue;
            rows.push_back(v * detectors + d);
            cols.push_back(yi * w + xi);
            values.push_back(weight);
          }
      }
    }
  }
  const auto n = static_cast<int64_t>(values.size());
  at::Tensor index = at::stack({at::tensor(rows, at::kLong), at::tensor(cols, at::kLong)}).reshape({2, n});
  return at::sparse_coo_tensor(index, at::tensor(values, at::kDouble), {views * detectors, h * w}).coalesce();
}

class CtOperator final : public Operator {
 public:
  CtOperator(Setup s, int64_t views, int64_t detectors) : Operator(std::move(s)), views_(views), detectors_(detectors) {
    matrix_ = radonMatrix(setup_.imageShape[1], setup_.imageShape[2], views, detectors);
    transposed_ = matrix_.t().coalesce();
  }

  std::vector<int64_t> measurementShape() const override { return {setup_.imageShape[0], views_, detectors_}; }
  std::string closedFormPinv() const override { return "filtered back-projection (approximate; pinv: 'cg' is exact to cgTolerance)"; }
  bool closedFormExact() const override { return false; }

  // Filtered back-projection with the band-limited Ram-Lak kernel in its spatial form (h₀ = 1/4,
  // h_k = −1/(πk)² for odd k, 0 for even k; Kak & Slaney), so each projection keeps its mean.
  at::Tensor fbp(const at::Tensor& y) const {
    const int64_t n = 2 * detectors_;  // zero-padded so the circular convolution does not wrap
    at::Tensor h = at::zeros({n}, at::kDouble);
    auto acc = h.accessor<double, 1>();
    acc[0] = 0.25;
    for (int64_t k = 1; k < detectors_; k += 2) acc[k] = acc[n - k] = -1.0 / (kPi * kPi * k * k);
    const at::Tensor response = at::real(at::fft_rfft(h)).to(y.device(), y.scalar_type());
    const at::Tensor filtered = at::fft_irfft(at::fft_rfft(y, n, -1) * response, n, -1).narrow(-1, 0, detectors_);
    return applyAt(filtered) * (kPi / views_);
  }

 protected:
  at::Tensor applyA(const at::Tensor& x) const override {
    const int64_t b = x.size(0), k = x.size(1), c = x.size(2);
    at::Tensor columns = x.reshape({b * k * c, -1}).t();  // (H·W) × (B·K·C)
    at::Tensor sino = at::mm(matrixFor(x), columns.contiguous());
    return sino.t().reshape({b, k, c, views_, detectors_});
  }
  at::Tensor applyAt(const at::Tensor& y) const override {
    const int64_t b = y.size(0), k = y.size(1), c = y.size(2);
    at::Tensor columns = y.reshape({b * k * c, -1}).t();
    at::Tensor img = at::mm(transposedFor(y), columns.contiguous());
    return img.t().reshape({b, k, c, setup_.imageShape[1], setup_.imageShape[2]});
  }
  at::Tensor applyPinv(const at::Tensor& y) const override { return fbp(y); }
  at::Tensor cgStart(const at::Tensor& y) const override { return fbp(y.to(at::kDouble)); }

 private:
  const at::Tensor& matrixFor(const at::Tensor& x) const { return like(matrix_, x); }
  const at::Tensor& transposedFor(const at::Tensor& x) const { return like(transposed_, x); }

  int64_t views_, detectors_;
  at::Tensor matrix_, transposed_;
};

}  // namespace

std::shared_ptr<Operator> makeCt(Setup s) {
  const int64_t h = s.imageShape[1], w = s.imageShape[2];
  const int64_t views = s.options.integer(s.family, "views", 60);
  const int64_t detectors = s.options.integer(s.family, "detectors", static_cast<int64_t>(std::ceil(std::hypot(h, w))));
  if (views < 1 || detectors < 1) throw std::invalid_argument("ct: options 'views' and 'detectors' must be positive");
  // radonMatrix steps along views × detectors rays of detectors + 1 points each.
  const long double rays = static_cast<long double>(views) * detectors;
  s.limitWork(views > detectors ? "views" : "detectors", rays * (detectors + 1), "views × detectors × (detectors + 1) ray points of the projection matrix");
  return std::make_shared<CtOperator>(std::move(s), views, detectors);
}

at::Tensor sheppLogan(int64_t size) {
  if (size < 2) throw std::invalid_argument("sheppLogan: 'size' must be at least 2");
  // intensity, semi-axes a, b, centre x0, y0, rotation (degrees): the modified Shepp–Logan ellipses.
  const double ellipses[10][6] = {
      {1.0, .69, .92, 0, 0, 0},          {-.8, .6624, .8740, 0, -.0184, 0}, {-.2, .1100, .3100, .22, 0, -18},
      {-.2, .1600, .4100, -.22, 0, 18},  {.1, .2100, .2500, 0, .35, 0},     {.1, .0460, .0460, 0, .1, 0},
      {.1, .0460, .0460, 0, -.1, 0},     {.1, .0460, .0230, -.08, -.605, 0}, {.1, .0230, .0230, 0, -.606, 0},
      {.1, .0230, .0460, .06, -.605, 0}};
  at::Tensor axis = at::linspace(-1, 1, size, at::kDouble);
  at::Tensor y = -axis.unsqueeze(1).expand({size, size});  // y up, as in the original definition
  at::Tensor x = axis.unsqueeze(0).expand({size, size});
  at::Tensor img = at::zeros({size, size}, at::kDouble);
  for (const auto& e : ellipses) {
    const double phi = e[5] * kPi / 180, c = std::cos(phi), s = std::sin(phi);
    at::Tensor xr = (x - e[3]) * c + (y - e[4]) * s, yr = -(x - e[3]) * s + (y - e[4]) * c;
    img = img + e[0] * ((xr / e[1]).square() + (yr / e[2]).square() <= 1).to(at::kDouble);
  }
  return img.clamp(0, 1).unsqueeze(0).unsqueeze(0);
}

}  // namespace invdiff::operators
