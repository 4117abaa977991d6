// Linear degradation operators y = A x (+ noise) with A, Aᵀ and A⁺, usable from TS (samplers, metrics) and
// from native networks (the Feature Degradation Layer applies A and A⁺ to activations).
//
// Images are N×C×H×W or stacks B×K×C×H×W; a stack shares each batch element's parameters across its K
// images. Parameters are per batch element: element b of an operator built with {seed: s, batch: B}
// equals the single operator built with {seed: s + b, batch: 1}. An operator of batch 1 serves any batch.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/options.h"

namespace invdiff::operators {

struct Setup {
  std::string family;
  std::vector<int64_t> imageShape;  // [C, H, W]
  int64_t batch;
  int64_t seed;
  double noiseStd;
  Options options;
  std::map<std::string, at::Tensor> tensors;  // tensor-valued options (a mask given by the caller)
  // A tensor option as float64 B×H×W (B = 1 or batch), checked against the image; undefined if absent.
  at::Tensor maskOption(const std::string& key) const;
  // A generator for batch element b's parameters (seeded seed + b), drawn on the CPU in float64.
  at::Generator generatorFor(int64_t b) const;
  // Refuses options that ask one operator to hold (or loop over) more than kMaxWork values, naming the
  // option: a typo such as views: 1e9 is an error at once, not an hour of work or the OOM killer.
  void limitWork(const std::string& option, long double values, const std::string& what) const;
};

// 2^28 values: 2 GiB of float64 parameters, or that many steps of a setup loop.
inline constexpr int64_t kMaxWork = int64_t(1) << 28;

struct PinvByCGFunction;

// Shared ownership (every family is made by make_shared) lets a backward of A⁺ by CG outlive the caller's handle.
class Operator : public std::enable_shared_from_this<Operator> {
 public:
  explicit Operator(Setup setup);
  virtual ~Operator() = default;

  // These accept N×C×H×W (or B×K×C×H×W) images and measurements shaped [N, (K,) ...measurementShape()].
  at::Tensor forward(const at::Tensor& x) const;
  at::Tensor adjoint(const at::Tensor& y) const;
  at::Tensor pinv(const at::Tensor& y) const;
  // A⁺ as a network layer applies it to activations (InvFusion's Feature Degradation layer, papers.md
  // §2.11): always the family's closed form, noiseless, with its gain capped where the closed form divides
  // by small spectra, computed in float32 at least. An operator built with pinv: 'cg' is refused: an
  // iterative A⁺ at every layer of every call is too slow and not differentiable through its stopping rule.
  at::Tensor networkPinv(const at::Tensor& y) const;
  // x + A⁺(y − A x): the closest measurement-consistent image (exactly so where A⁺ is exact).
  // exact: A⁺ by CG even where the family's A⁺ is a fast approximation (pinvExact false).
  at::Tensor project(const at::Tensor& x, const at::Tensor& y, bool exact = false) const;
  // A x + noiseStd · n, n ~ N(0, I) from seed.
  at::Tensor measure(const at::Tensor& x, int64_t seed) const;
  // ‖A‖², the largest eigenvalue of AᵀA over the batch's samples: by power iteration in float64, made once
  // and kept, with a small margin above the estimate (the iteration approaches from below). Step sizes of
  // gradient-type samplers scale with it (strided blur's ‖A‖² is about 13, not 1).
  double gainSquared() const;

  const Setup& setup() const { return setup_; }
  virtual std::vector<int64_t> measurementShape() const = 0;
  // "exact", or how the pseudo-inverse is approximated ("cg" when the pinv option asks for conjugate gradients).
  std::string pinvMethod() const;
  // Whether pinv satisfies the Penrose conditions (to cgTolerance for CG), or is a fast approximation.
  bool pinvExact() const { return useCG_ || closedFormExact(); }

 protected:
  // Implementations see stacks B×K×C×H×W with B equal to the operator's batch or any B when it is 1,
  // and measurements B×K×...measurementShape().
  virtual at::Tensor applyA(const at::Tensor& x) const = 0;
  virtual at::Tensor applyAt(const at::Tensor& y) const = 0;
  // The family's own A⁺; the default is conjugate gradients, for families without a closed form.
  virtual at::Tensor applyPinv(const at::Tensor& y) const { return pinvByCG(y); }
  virtual std::string closedFormPinv() const { return "exact"; }
  // networkPinv on stacks; families whose closed form has an unbounded gain (deblurring) override it.
  virtual at::Tensor applyNetworkPinv(const at::Tensor& y) const { return applyPinv(y); }
  virtual bool closedFormExact() const { return true; }
  // x + A⁺(y − A x) on stacks; a family may fuse it (samplers call it every step).
  virtual at::Tensor applyProject(const at::Tensor& x, const at::Tensor& y) const;
  // A⁺ on stacks as the options ask: conjugate gradients, or the family's own.
  at::Tensor pinvStack(const at::Tensor& y) const { return useCG_ ? pinvByCG(y) : applyPinv(y); }

  // A⁺ y as the minimum-norm least-squares solution, by conjugate gradients on the normal equations
  // (CGLS from x = 0, in float64), to options cgTolerance (relative residual of Aᵀ(y − A x)) and cgIterations.
  // Its gradient is that of A⁺, (A⁺)ᵀ g = (Aᵀ)⁺ g by a second CGLS, not that of the stopped iteration.
  at::Tensor pinvByCG(const at::Tensor& y) const;
  // Where CG starts: zero by default, or a family's fast approximation, which must lie in the range of Aᵀ
  // for CG to still reach the minimum-norm solution.
  virtual at::Tensor cgStart(const at::Tensor& y) const { return {}; }

  // A parameter member (kept in float64 on the CPU) in another dtype and device. Each conversion is made
  // once and kept: converting per call cost inpainting 30× its multiply.
  const at::Tensor& cast(const at::Tensor& param, at::ScalarType type, at::Device device) const;
  // cast to x's dtype and device.
  const at::Tensor& like(const at::Tensor& param, const at::Tensor& x) const { return cast(param, x.scalar_type(), x.device()); }
  // cast of a complex parameter to the complex type matching x's precision.
  const at::Tensor& likeComplex(const at::Tensor& param, const at::Tensor& x) const {
    return cast(param, x.scalar_type() == at::kDouble ? at::kComplexDouble : at::kComplexFloat, x.device());
  }
  // Reshapes a per-sample parameter (B, ...) to broadcast against a stack B×K×... of rank `rank`.
  static at::Tensor perSample(const at::Tensor& param, int64_t rank);

  Setup setup_;
  bool useCG_ = false;  // option pinv: 'cg'
  int64_t cgIterations_;
  double cgTolerance_;

 private:
  friend struct PinvByCGFunction;
  // CGLS for the minimum-norm least-squares solution of A x = y (adjointSystem: of Aᵀ v = y), no graph.
  at::Tensor cgls(const at::Tensor& y, bool adjointSystem) const;

  mutable std::once_flag gainOnce_;
  mutable double gainSquared_ = 0;
  mutable std::mutex castLock_;
  mutable std::map<std::tuple<const void*, at::ScalarType, std::string>, at::Tensor> casts_;
  at::Tensor checkedImage(const at::Tensor& x, const char* what, bool& stacked) const;
  at::Tensor checkedMeasurement(const at::Tensor& y, const char* what, bool& stacked) const;
};

std::shared_ptr<Operator> create(const std::string& family, const std::vector<int64_t>& imageShape, int64_t batch, int64_t seed,
                                  double noiseStd, const Options& options, const std::map<std::string, at::Tensor>& tensors = {});
std::vector<std::string> families();

// The families, one factory each (defined in their own files).
std::shared_ptr<Operator> makeNone(Setup);
std::shared_ptr<Operator> makeDenoising(Setup);
std::shared_ptr<Operator> makeInpainting(Setup);
std::shared_ptr<Operator> makeBoxInpainting(Setup);
std::shared_ptr<Operator> makeOutpainting(Setup);
std::shared_ptr<Operator> makeBlur(Setup);
std::shared_ptr<Operator> makeStridedBlur(Setup);
std::shared_ptr<Operator> makeSuperResolution(Setup);
std::shared_ptr<Operator> makeBlockCS(Setup);
std::shared_ptr<Operator> makeMatrix(Setup);
std::shared_ptr<Operator> makeMri(Setup);
std::shared_ptr<Operator> makeCt(Setup);

// The modified Shepp–Logan phantom (Toft's contrast), size×size in [0, 1], for CT tests and demos.
at::Tensor sheppLogan(int64_t size);

}  // namespace invdiff::operators
