#include "core/operators/operator.h"
#include "core/named_table.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/irange.h>
#include <torch/csrc/autograd/custom_function.h>

#include <stdexcept>

namespace invdiff::operators {

at::Generator Setup::generatorFor(int64_t b) const {
  return at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed + b));
}

at::Tensor Setup::maskOption(const std::string& key) const {
  auto it = tensors.find(key);
  if (it == tensors.end()) return {};
  at::Tensor m = it->second.detach().to(at::kCPU, at::kDouble);
  if (m.dim() == 2) m = m.unsqueeze(0);
  const int64_t h = imageShape[1], w = imageShape[2];
  if (m.dim() != 3 || m.size(1) != h || m.size(2) != w || (m.size(0) != 1 && m.size(0) != batch))
    throw std::invalid_argument(family + ": option '" + key + "' must be H×W or B×H×W with H×W = " + std::to_string(h) + "×" + std::to_string(w) +
                                " and B = 1 or the batch, got " + c10::str(it->second.sizes()));
  if (!((m == 0) | (m == 1)).all().item<bool>()) throw std::invalid_argument(family + ": option '" + key + "' must hold only 0 and 1");
  if ((m.flatten(1).sum(1) == 0).any().item<bool>()) throw std::invalid_argument(family + ": option '" + key + "' is empty (all zeros) for some batch element");
  return m;
}

void Setup::limitWork(const std::string& option, long double values, const std::string& what) const {
  if (values > static_cast<long double>(kMaxWork))
    throw std::invalid_argument(family + ": option '" + option + "' asks for " + c10::str(static_cast<double>(values)) + " values (" + what +
                                "), more than the " + std::to_string(kMaxWork) + " one operator may hold");
}

Operator::Operator(Setup setup) : setup_(std::move(setup)) {
  const std::string pinv = setup_.options.string(setup_.family, "pinv", "closed");
  if (pinv != "closed" && pinv != "cg") throw std::invalid_argument(setup_.family + ": option 'pinv' must be 'closed' or 'cg', got '" + pinv + "'");
  useCG_ = pinv == "cg";
  cgIterations_ = setup_.options.integer(setup_.family, "cgIterations", 500);
  cgTolerance_ = setup_.options.number(setup_.family, "cgTolerance", 1e-10);
  if (cgIterations_ < 1 || !(cgTolerance_ > 0)) throw std::invalid_argument(setup_.family + ": options 'cgIterations' and 'cgTolerance' must be positive");
}

std::string Operator::pinvMethod() const {
  return useCG_ ? "conjugate gradients (cgTolerance " + c10::str(cgTolerance_) + ", cgIterations " + c10::str(cgIterations_) + ")" : closedFormPinv();
}

namespace {

// Sum over the trailing dims of B×K×... tensors: one value per stack element, shaped B×K.
at::Tensor dotPerElement(const at::Tensor& a, const at::Tensor& b) { return (a * b).flatten(2).sum(2); }

// A B×K value broadcast against a B×K×... tensor.
at::Tensor expandTo(const at::Tensor& v, const at::Tensor& t) {
  std::vector<int64_t> shape{v.size(0), v.size(1)};
  shape.resize(t.dim(), 1);
  return v.reshape(shape);
}

}  // namespace

at::Tensor Operator::cgls(const at::Tensor& y, bool adjointSystem) const {
  at::NoGradGuard noGrad;
  // M is A, or Aᵀ for the adjoint system; Mt its adjoint.
  const auto M = [&](const at::Tensor& v) { return adjointSystem ? applyAt(v) : applyA(v); };
  const auto Mt = [&](const at::Tensor& v) { return adjointSystem ? applyA(v) : applyAt(v); };
  const at::Tensor b = y.to(at::kDouble);
  const at::Tensor x0 = adjointSystem ? at::Tensor() : cgStart(y);
  at::Tensor r = b;
  at::Tensor x;
  if (x0.defined()) {
    x = x0.to(at::kDouble);
    r = r - M(x);
  }
  at::Tensor s = Mt(r);
  if (!x.defined()) x = at::zeros_like(s);
  at::Tensor p = s.clone();
  at::Tensor gamma = dotPerElement(s, s);
  // Relative to ‖Mᵀb‖, whatever the start.
  const at::Tensor mtb = x0.defined() ? Mt(b) : s;
  const at::Tensor stop = dotPerElement(mtb, mtb) * (cgTolerance_ * cgTolerance_);
  for (int64_t k = 0; k < cgIterations_ && !(gamma <= stop).all().item<bool>(); ++k) {
    const at::Tensor q = M(p);
    const at::Tensor qq = dotPerElement(q, q);
    const at::Tensor alpha = at::where(qq > 0, gamma / qq.clamp_min(1e-300), at::zeros_like(qq));
    x = x + expandTo(alpha, x) * p;
    r = r - expandTo(alpha, q) * q;
    s = Mt(r);
    const at::Tensor next = dotPerElement(s, s);
    const at::Tensor beta = at::where(gamma > 0, next / gamma.clamp_min(1e-300), at::zeros_like(gamma));
    p = s + expandTo(beta, p) * p;
    gamma = next;
  }
  return x.to(y.scalar_type());
}

namespace {

// Keeps the operator alive in the graph for as long as the backward may run.
struct OperatorHolder : torch::CustomClassHolder {
  explicit OperatorHolder(std::shared_ptr<const Operator> o) : op(std::move(o)) {}
  std::shared_ptr<const Operator> op;
};

}  // namespace

struct PinvByCGFunction : torch::autograd::Function<PinvByCGFunction> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& y, std::shared_ptr<const Operator> op) {
    ctx->saved_data["op"] = c10::IValue::make_capsule(c10::make_intrusive<OperatorHolder>(op));
    return op->cgls(y, false);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    const auto holder = c10::static_intrusive_pointer_cast<OperatorHolder>(ctx->saved_data["op"].toCapsule());
    if (!grads[0].defined()) return {at::Tensor(), at::Tensor()};
    return {holder->op->cgls(grads[0], true), at::Tensor()};
  }
};

at::Tensor Operator::pinvByCG(const at::Tensor& y) const {
  if (!at::GradMode::is_enabled() || !y.requires_grad()) return cgls(y, false);
  std::shared_ptr<const Operator> self = weak_from_this().lock();
  if (!self) throw std::logic_error(setup_.family + ": an operator not made by make_shared cannot give the gradient of A⁺ by CG");
  return PinvByCGFunction::apply(y, self);
}

namespace {

std::string shapeText(at::IntArrayRef s) { return c10::str(s); }

}  // namespace

at::Tensor Operator::checkedImage(const at::Tensor& x, const char* what, bool& stacked) const {
  const auto& img = setup_.imageShape;
  stacked = x.dim() == 5;
  if (x.dim() != 4 && x.dim() != 5)
    throw std::invalid_argument(std::string(what) + ": expected images N×C×H×W or stacks B×K×C×H×W, got shape " + shapeText(x.sizes()));
  const auto tail = x.sizes().slice(x.dim() - 3);
  if (tail != at::IntArrayRef(img))
    throw std::invalid_argument(std::string(what) + ": the " + setup_.family + " operator was built for images " + shapeText(img) + ", got " + shapeText(tail) +
                                " (option 'imageShape')");
  if (setup_.batch != 1 && x.size(0) != setup_.batch)
    throw std::invalid_argument(std::string(what) + ": the operator holds parameters for a batch of " + std::to_string(setup_.batch) + ", got " +
                                std::to_string(x.size(0)) + " images (option 'batch')");
  if (!at::isFloatingType(x.scalar_type())) throw std::invalid_argument(std::string(what) + ": expected a floating-point image");
  return stacked ? x : x.unsqueeze(1);
}

at::Tensor Operator::checkedMeasurement(const at::Tensor& y, const char* what, bool& stacked) const {
  const auto m = measurementShape();
  const int64_t rank = static_cast<int64_t>(m.size());
  stacked = y.dim() == rank + 2;
  if (y.dim() != rank + 1 && y.dim() != rank + 2)
    throw std::invalid_argument(std::string(what) + ": expected measurements N×" + shapeText(m) + " (or B×K×...), got shape " + shapeText(y.sizes()));
  const auto tail = y.sizes().slice(y.dim() - rank);
  if (tail != at::IntArrayRef(m))
    throw std::invalid_argument(std::string(what) + ": the " + setup_.family + " operator measures " + shapeText(m) + " per image, got " + shapeText(tail));
  if (setup_.batch != 1 && y.size(0) != setup_.batch)
    throw std::invalid_argument(std::string(what) + ": the operator holds parameters for a batch of " + std::to_string(setup_.batch) + ", got " +
                                std::to_string(y.size(0)) + " measurements (option 'batch')");
  return stacked ? y : y.unsqueeze(1);
}

at::Tensor Operator::forward(const at::Tensor& x) const {
  bool stacked;
  at::Tensor y = applyA(checkedImage(x, "forward", stacked));
  return stacked ? y : y.squeeze(1);
}

at::Tensor Operator::adjoint(const at::Tensor& y) const {
  bool stacked;
  at::Tensor x = applyAt(checkedMeasurement(y, "adjoint", stacked));
  return stacked ? x : x.squeeze(1);
}

at::Tensor Operator::pinv(const at::Tensor& y) const {
  bool stacked;
  const at::Tensor ys = checkedMeasurement(y, "pinv", stacked);
  at::Tensor x = pinvStack(ys);
  return stacked ? x : x.squeeze(1);
}

at::Tensor Operator::networkPinv(const at::Tensor& y) const {
  if (useCG_)
    throw std::invalid_argument(setup_.family + ": this operator was built with pinv: 'cg'; a network applies A⁺ at every layer and needs the closed form (build it with pinv: 'closed')");
  bool stacked;
  const at::Tensor ys = checkedMeasurement(y, "networkPinv", stacked);
  const bool low = ys.scalar_type() == at::kHalf || ys.scalar_type() == at::kBFloat16;
  at::Tensor x = applyNetworkPinv(low ? ys.to(at::kFloat) : ys);
  if (low) x = x.to(ys.scalar_type());
  return stacked ? x : x.squeeze(1);
}

at::Tensor Operator::project(const at::Tensor& x, const at::Tensor& y, bool exact) const {
  bool imageStacked, measurementStacked;
  const at::Tensor xs = checkedImage(x, "project", imageStacked);
  const at::Tensor ys = checkedMeasurement(y, "project", measurementStacked);
  if (imageStacked != measurementStacked) throw std::invalid_argument("project: x and y must both be stacks (B×K×...) or both not");
  at::Tensor out = exact && !pinvExact() ? xs + pinvByCG(ys - applyA(xs)) : applyProject(xs, ys);
  return imageStacked ? out : out.squeeze(1);
}

at::Tensor Operator::applyProject(const at::Tensor& x, const at::Tensor& y) const {
  return x + pinvStack(y - applyA(x));
}

at::Tensor Operator::measure(const at::Tensor& x, int64_t seed) const {
  at::Tensor y = forward(x);
  if (setup_.noiseStd == 0) return y;
  auto g = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(seed));
  return y + at::randn(y.sizes(), g, y.options().device(at::kCPU)).to(y.device()) * setup_.noiseStd;
}

double Operator::gainSquared() const {
  std::call_once(gainOnce_, [this] {
    at::NoGradGuard noGrad;
    auto g = at::make_generator<at::CPUGeneratorImpl>(uint64_t{0x9a1});
    std::vector<int64_t> shape{std::max<int64_t>(setup_.batch, 1)};
    shape.insert(shape.end(), setup_.imageShape.begin(), setup_.imageShape.end());
    at::Tensor v = at::randn(shape, g, at::TensorOptions(at::kDouble));
    at::Tensor rayleigh;
    for (int i = 0; i < 40; ++i) {
      v = v / v.flatten(1).norm(2, 1).clamp_min(1e-300).view({-1, 1, 1, 1});
      const at::Tensor w = adjoint(forward(v));
      rayleigh = (w * v).flatten(1).sum(1);
      v = w;
    }
    gainSquared_ = 1.05 * rayleigh.max().item<double>();
  });
  return gainSquared_;
}

const at::Tensor& Operator::cast(const at::Tensor& param, at::ScalarType type, at::Device device) const {
  std::lock_guard<std::mutex> guard(castLock_);
  auto key = std::make_tuple(static_cast<const void*>(param.unsafeGetTensorImpl()), type, device.str());
  auto it = casts_.find(key);
  if (it == casts_.end()) it = casts_.emplace(key, param.to(device, type)).first;
  return it->second;
}

at::Tensor Operator::perSample(const at::Tensor& param, int64_t rank) {
  std::vector<int64_t> shape(param.sizes().begin(), param.sizes().end());
  shape.insert(shape.begin() + 1, 1);  // the K axis
  while (static_cast<int64_t>(shape.size()) < rank) shape.insert(shape.begin() + 2, 1);
  return param.reshape(shape);
}

namespace {

struct Family {
  const char* name;
  std::shared_ptr<Operator> (*make)(Setup);
};
constexpr Family kFamilies[] = {
    {"none", makeNone},
    {"denoising", makeDenoising},
    {"inpainting", makeInpainting},
    {"boxInpainting", makeBoxInpainting},
    {"outpainting", makeOutpainting},
    {"blur", makeBlur},
    {"stridedBlur", makeStridedBlur},
    {"superResolution", makeSuperResolution},
    {"blockCS", makeBlockCS},
    {"matrix", makeMatrix},
    {"mri", makeMri},
    {"ct", makeCt},
};

}  // namespace

std::shared_ptr<Operator> create(const std::string& family, const std::vector<int64_t>& imageShape, int64_t batch, int64_t seed,
                                  double noiseStd, const Options& options, const std::map<std::string, at::Tensor>& tensors) {
  if (imageShape.size() != 3 || imageShape[0] < 1 || imageShape[1] < 1 || imageShape[2] < 1)
    throw std::invalid_argument(family + ": option 'imageShape' must be [C, H, W] with positive sizes, got " + c10::str(at::IntArrayRef(imageShape)));
  if (batch < 1) throw std::invalid_argument(family + ": option 'batch' must be a positive integer");
  if (!(noiseStd >= 0) || !std::isfinite(noiseStd)) throw std::invalid_argument(family + ": option 'noiseStd' must be a finite number >= 0");
  const Setup setup{family, imageShape, batch, seed, noiseStd, options, tensors};
  const long double values = static_cast<long double>(imageShape[0]) * imageShape[1] * imageShape[2];
  setup.limitWork("imageShape", values, "C·H·W per image");
  // Families keep up to an image's worth of parameters per batch element (masks, permutations, matrices' rows).
  setup.limitWork("batch", values * batch, "batch × C·H·W of per-element parameters");
  auto op = findNamed(kFamilies, family, "operator family", "families").make(setup);
  options.rejectUnread(family);
  return op;
}

std::vector<std::string> families() { return namesOf(kFamilies); }

}  // namespace invdiff::operators
