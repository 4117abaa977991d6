// Operators that measure fewer values than pixels: average-pool super-resolution, IDM's block compressed
// sensing (papers.md §1.2) and dense random matrices (InvFussion's "matrix" family).
#include <cmath>
#include <map>
#include <mutex>
#include <stdexcept>

#include <ATen/CPUGeneratorImpl.h>

#include "core/operators/operator.h"

namespace invdiff::operators {
namespace {

// Flattens B×K×C×H×W stacks to B×K×D and back.
at::Tensor flat(const at::Tensor& x) { return x.flatten(2); }

// ---- superResolution: A = average pooling by `factor`; A Aᵀ = I/f², so A⁺ = f²·Aᵀ = nearest upsampling.
class AveragePoolOperator final : public Operator {
 public:
  AveragePoolOperator(Setup s, int64_t factor) : Operator(std::move(s)), f_(factor) {}
  std::vector<int64_t> measurementShape() const override { return {setup_.imageShape[0], setup_.imageShape[1] / f_, setup_.imageShape[2] / f_}; }

 protected:
  at::Tensor applyA(const at::Tensor& x) const override { return images(at::avg_pool2d(flat4(x), {f_, f_}), x); }
  at::Tensor applyAt(const at::Tensor& y) const override { return upsample(y) / static_cast<double>(f_ * f_); }
  at::Tensor applyPinv(const at::Tensor& y) const override { return upsample(y); }

 private:
  static at::Tensor flat4(const at::Tensor& x) { return x.flatten(0, 1); }
  static at::Tensor images(const at::Tensor& t, const at::Tensor& like5) { return t.unflatten(0, {like5.size(0), like5.size(1)}); }
  at::Tensor upsample(const at::Tensor& y) const { return y.repeat_interleave(f_, -2).repeat_interleave(f_, -1); }
  int64_t f_;
};

// ---- superResolution, bicubic: A = bicubic resampling to H/f × W/f (LibTorch's kernel, no antialiasing),
// Aᵀ its exact backward, A⁺ by conjugate gradients (no closed form).
class BicubicOperator final : public Operator {
 public:
  BicubicOperator(Setup s, int64_t factor) : Operator(std::move(s)), f_(factor) { useCG_ = true; }
  std::vector<int64_t> measurementShape() const override { return {setup_.imageShape[0], setup_.imageShape[1] / f_, setup_.imageShape[2] / f_}; }

 protected:
  at::Tensor applyA(const at::Tensor& x) const override {
    const at::Tensor small = at::upsample_bicubic2d(x.flatten(0, 1), outputSize(), false, c10::nullopt, c10::nullopt);
    return small.unflatten(0, {x.size(0), x.size(1)});
  }
  at::Tensor applyAt(const at::Tensor& y) const override {
    const std::vector<int64_t> input{y.size(0) * y.size(1), setup_.imageShape[0], setup_.imageShape[1], setup_.imageShape[2]};
    const at::Tensor big = at::upsample_bicubic2d_backward(y.flatten(0, 1).contiguous(), outputSize(), input, false, c10::nullopt, c10::nullopt);
    return big.unflatten(0, {y.size(0), y.size(1)});
  }

 private:
  std::vector<int64_t> outputSize() const { return {setup_.imageShape[1] / f_, setup_.imageShape[2] / f_}; }
  int64_t f_;
};

// ---- blockCS ----
// Φ (N×q) with orthonormal columns: the first q columns of U·Vᵀ for G = U S Vᵀ, G ~ N(0, 1)^{N×N} drawn in
// float32 from a generator seeded with matrixSeed, as the official IDM code does (torch.manual_seed(2025);
// torch.randn(N, N)), so Φ equals its Φ to float32 rounding; the SVD runs in float64. U·Vᵀ does not depend
// on the SVD's sign choices. Cached: the SVD of a 1024² matrix costs about a second and every operator of a
// ratio shares Φ.
at::Tensor sensingMatrix(int64_t n, int64_t q, int64_t seed) {
  static std::mutex lock;
  static std::map<std::tuple<int64_t, int64_t, int64_t>, at::Tensor> cache;
  std::lock_guard<std::mutex> guard(lock);
  auto key = std::make_tuple(n, q, seed);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  auto g = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
  at::Tensor gaussian = at::randn({n, n}, g, at::kFloat).to(at::kDouble);
  auto [u, s, vh] = at::linalg_svd(gaussian, false);
  at::Tensor phi = at::matmul(u, vh).narrow(1, 0, q).contiguous();
  cache.emplace(key, phi);
  return phi;
}

// Scrambled: the image's D values are permuted (a fresh π per sample), zero-padded to rows of N and each
// row multiplied by Φ. Plain: the image is cut into blockSize² tiles per channel, each multiplied by Φ.
// Rows are orthonormal maps, so A⁺ = Aᵀ, except for a scrambled last row holding r < N real values, whose
// pseudo-inverse is pinv(Φ[:r]).
class BlockCSOperator final : public Operator {
 public:
  BlockCSOperator(Setup s, int64_t block, int64_t q, bool scrambled, int64_t matrixSeed)
      : Operator(std::move(s)), block_(block), n_(block * block), q_(q), scrambled_(scrambled) {
    phi_ = sensingMatrix(n_, q_, matrixSeed);
    const int64_t d = setup_.imageShape[0] * setup_.imageShape[1] * setup_.imageShape[2];
    rows_ = (d + n_ - 1) / n_;
    tail_ = d - (rows_ - 1) * n_;
    if (scrambled_) {
      std::vector<at::Tensor> perms;
      for (int64_t b = 0; b < setup_.batch; ++b) perms.push_back(at::randperm(d, setup_.generatorFor(b), at::kLong));
      perm_ = at::stack(perms);                     // B×D: scrambled[i] = x[perm[i]]
      inverse_ = at::argsort(perm_, /*dim=*/int64_t(1), /*descending=*/false);  // x[j] = scrambled[inverse[j]]
      if (tail_ < n_) tailPinv_ = at::pinverse(phi_.narrow(0, 0, tail_));  // q×r
    }
  }

  std::vector<int64_t> measurementShape() const override {
    if (scrambled_) return {rows_, q_};
    const int64_t c = setup_.imageShape[0], h = setup_.imageShape[1], w = setup_.imageShape[2];
    return {c * (h / block_) * (w / block_), q_};
  }
  std::string closedFormPinv() const override { return "exact (A⁺ = Aᵀ on full rows)"; }

 protected:
  at::Tensor applyA(const at::Tensor& x) const override { return at::matmul(toRows(x), like(phi_, x)); }
  at::Tensor applyAt(const at::Tensor& y) const override { return fromRows(at::matmul(y, like(phi_, y).t()), y); }
  at::Tensor applyPinv(const at::Tensor& y) const override {
    at::Tensor rows = at::matmul(y, like(phi_, y).t());
    if (scrambled_ && tail_ < n_) {
      // The last row measured only r real values: solve it with pinv(Φ[:r]) instead of Φᵀ.
      at::Tensor last = at::matmul(y.select(-2, rows_ - 1), like(tailPinv_, y));  // ...×r
      rows = rows.clone();
      rows.select(-2, rows_ - 1).narrow(-1, 0, tail_).copy_(last);
      rows.select(-2, rows_ - 1).narrow(-1, tail_, n_ - tail_).zero_();
    }
    return fromRows(rows, y);
  }

 private:
  // B×K×C×H×W → B×K×rows×N
  at::Tensor toRows(const at::Tensor& x) const {
    if (!scrambled_) {
      const int64_t c = setup_.imageShape[0], h = setup_.imageShape[1], w = setup_.imageShape[2];
      // tiles: B×K×C×(h/b)×b×(w/b)×b → B×K×C×(h/b)×(w/b)×b×b
      at::Tensor t = x.reshape({x.size(0), x.size(1), c, h / block_, block_, w / block_, block_}).permute({0, 1, 2, 3, 5, 4, 6});
      return t.reshape({x.size(0), x.size(1), -1, n_});
    }
    at::Tensor v = flat(x);
    at::Tensor index = perm_.to(x.device()).unsqueeze(1).expand({x.size(0), x.size(1), v.size(2)});
    v = v.gather(2, index);
    return at::constant_pad_nd(v, {0, rows_ * n_ - v.size(2)}).reshape({x.size(0), x.size(1), rows_, n_});
  }
  // B×K×rows×N → B×K×C×H×W
  at::Tensor fromRows(const at::Tensor& rows, const at::Tensor& like5) const {
    const int64_t c = setup_.imageShape[0], h = setup_.imageShape[1], w = setup_.imageShape[2];
    const int64_t b = like5.size(0), k = like5.size(1);
    if (!scrambled_) {
      at::Tensor t = rows.reshape({b, k, c, h / block_, w / block_, block_, block_}).permute({0, 1, 2, 3, 5, 4, 6});
      return t.reshape({b, k, c, h, w});
    }
    const int64_t d = c * h * w;
    at::Tensor v = rows.reshape({b, k, rows_ * n_}).narrow(2, 0, d);
    at::Tensor index = inverse_.to(rows.device()).unsqueeze(1).expand({b, k, d});
    return v.gather(2, index).reshape({b, k, c, h, w});
  }

  int64_t block_, n_, q_, rows_ = 0, tail_ = 0;
  bool scrambled_;
  at::Tensor phi_, perm_, inverse_, tailPinv_;
};

// ---- matrix: per sample, r ~ U{minRows..maxRows} unit-norm Gaussian rows over the D pixel values,
// zero-padded to maxRows rows; A⁺ is computed once, in float64.
class MatrixOperator final : public Operator {
 public:
  MatrixOperator(Setup s, int64_t minRows, int64_t maxRows) : Operator(std::move(s)), maxRows_(maxRows) {
    const int64_t d = setup_.imageShape[0] * setup_.imageShape[1] * setup_.imageShape[2];
    std::vector<at::Tensor> list;
    for (int64_t b = 0; b < setup_.batch; ++b) {
      at::Generator g = setup_.generatorFor(b);
      const int64_t r = minRows + at::randint(maxRows - minRows + 1, {1}, g, at::kLong).item<int64_t>();
      at::Tensor rows = at::randn({r, d}, g, at::kDouble);
      rows = rows / rows.norm(2, {1}, true);
      list.push_back(at::constant_pad_nd(rows, {0, 0, 0, maxRows - r}));
    }
    matrices_ = at::stack(list);            // B×m×D
    pinvs_ = at::pinverse(matrices_);       // B×D×m
  }
  std::vector<int64_t> measurementShape() const override { return {maxRows_}; }

 protected:
  // B×K×n vectors times (B×m×n)ᵀ → B×K×m
  at::Tensor applyA(const at::Tensor& x) const override { return at::matmul(flat(x), like(matrices_, x).transpose(1, 2)); }
  at::Tensor applyAt(const at::Tensor& y) const override { return unflat(at::matmul(y, like(matrices_, y))); }
  at::Tensor applyPinv(const at::Tensor& y) const override { return unflat(at::matmul(y, like(pinvs_, y).transpose(1, 2))); }

 private:
  at::Tensor unflat(const at::Tensor& v) const {
    return v.reshape({v.size(0), v.size(1), setup_.imageShape[0], setup_.imageShape[1], setup_.imageShape[2]});
  }
  int64_t maxRows_;
  at::Tensor matrices_, pinvs_;
};

}  // namespace

std::shared_ptr<Operator> makeSuperResolution(Setup s) {
  const int64_t f = s.options.integer(s.family, "factor", 2);
  if (f != 2 && f != 3 && f != 4 && f != 8) throw std::invalid_argument("superResolution: option 'factor' must be 2, 3, 4 or 8");
  if (s.imageShape[1] % f || s.imageShape[2] % f)
    throw std::invalid_argument("superResolution: option 'imageShape' must have H and W divisible by the factor " + std::to_string(f));
  const std::string mode = s.options.string(s.family, "downsample", "average");
  if (mode == "bicubic") return std::make_shared<BicubicOperator>(std::move(s), f);
  if (mode != "average") throw std::invalid_argument("superResolution: option 'downsample' must be 'average' or 'bicubic', got '" + mode + "'");
  return std::make_shared<AveragePoolOperator>(std::move(s), f);
}

std::shared_ptr<Operator> makeBlockCS(Setup s) {
  const double ratio = s.options.number(s.family, "ratio", 0.1);
  if (!(ratio > 0 && ratio <= 1)) throw std::invalid_argument("blockCS: option 'ratio' (the sampling ratio γ) must lie in (0, 1]");
  const int64_t block = s.options.integer(s.family, "blockSize", 32);
  if (block < 2) throw std::invalid_argument("blockCS: option 'blockSize' must be at least 2");
  // Φ is q × blockSize² with q up to blockSize², and its pseudo-inverse is computed once.
  s.limitWork("blockSize", static_cast<long double>(block) * block * block * block, "blockSize⁴ entries of the sensing matrix");
  const bool scrambled = s.options.flag(s.family, "scrambled", true);
  if (!scrambled && (s.imageShape[1] % block || s.imageShape[2] % block))
    throw std::invalid_argument("blockCS: with scrambled: false, option 'imageShape' must have H and W divisible by 'blockSize'");
  const int64_t n = block * block;
  const int64_t q = static_cast<int64_t>(std::ceil(ratio * n - 1e-9));
  const int64_t matrixSeed = s.options.integer(s.family, "matrixSeed", 2025);
  return std::make_shared<BlockCSOperator>(std::move(s), block, q, scrambled, matrixSeed);
}

std::shared_ptr<Operator> makeMatrix(Setup s) {
  const int64_t d = s.imageShape[0] * s.imageShape[1] * s.imageShape[2];
  const int64_t maxRows = s.options.integer(s.family, "maxRows", std::min<int64_t>(128, d));
  const int64_t minRows = s.options.integer(s.family, "minRows", std::min<int64_t>(2, maxRows));
  if (minRows < 1 || minRows > maxRows || maxRows > d)
    throw std::invalid_argument("matrix: options must satisfy 1 <= minRows <= maxRows <= C·H·W (" + std::to_string(d) + ")");
  s.limitWork("maxRows", static_cast<long double>(s.batch) * maxRows * d, "batch × maxRows × C·H·W matrix entries");
  return std::make_shared<MatrixOperator>(std::move(s), minRows, maxRows);
}

}  // namespace invdiff::operators
