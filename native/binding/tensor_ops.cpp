// Tensor rows of the op table: factories, arithmetic, reductions, shapes, linear algebra, FFT and the
// network functionals. One row per op; scripts/gen-ops.js derives the TypeScript from these rows.
#include <sys/sysinfo.h>
#include <unistd.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Reduction.h>
#include <torch/nn/functional/padding.h>
#include <torch/nn/functional/upsampling.h>

#include "binding/table.h"
#include "core/samplers/step.h"

namespace invdiff::binding {

namespace F = torch::nn::functional;

at::ScalarType parseDtype(const std::string& name, const char* argument) {
  static const std::pair<const char*, at::ScalarType> names[] = {
      {"float32", at::kFloat}, {"float64", at::kDouble}, {"float16", at::kHalf}, {"bfloat16", at::kBFloat16},
      {"int64", at::kLong},    {"int32", at::kInt},      {"int16", at::kShort},  {"int8", at::kChar},
      {"uint8", at::kByte},    {"bool", at::kBool},      {"complex64", at::kComplexFloat}, {"complex128", at::kComplexDouble}};
  for (const auto& [n, t] : names)
    if (name == n) return t;
  throw std::invalid_argument(std::string("argument '") + argument + "' expected a dtype (float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool, complex64, complex128), got '" + name + "'");
}

std::string dtypeName(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kDouble: return "float64";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    case at::kComplexFloat: return "complex64";
    case at::kComplexDouble: return "complex128";
    default: return c10::toString(t);
  }
}

at::Device parseDevice(const std::string& name, const char* argument) {
  if (name != "cpu" && name.rfind("cuda", 0) != 0)
    throw std::invalid_argument(std::string("argument '") + argument + "' expected 'cpu', 'cuda' or 'cuda:N', got '" + name + "'");
  at::Device device(name);
  if (device.is_cuda() && !at::hasCUDA())
    throw std::invalid_argument(std::string("argument '") + argument + "' asks for '" + name + "', but this LibTorch has no usable CUDA device");
  return device;
}

at::TensorOptions factoryOptions(const Args& a, size_t dtypeIndex, size_t deviceIndex) {
  at::TensorOptions o = at::TensorOptions().dtype(a.has(dtypeIndex) ? parseDtype(a.s(dtypeIndex), "dtype") : at::kFloat);
  if (a.has(deviceIndex)) o = o.device(parseDevice(a.s(deviceIndex), "device"));
  return o;
}

// Rejects shapes no machine could hold before LibTorch tries (and the OS overcommits, then kills us).
void checkAllocation(const std::vector<int64_t>& shape, at::ScalarType dtype) {
  long double bytes = static_cast<long double>(c10::elementSize(dtype));
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0) throw std::invalid_argument("argument 'shape' expected non-negative sizes, got " + std::to_string(shape[i]) + " at dimension " + std::to_string(i));
    bytes *= static_cast<long double>(shape[i]);
  }
  const long double physical = static_cast<long double>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE);
  if (bytes > physical)
    throw std::invalid_argument("argument 'shape' asks for " + c10::str(static_cast<long long>(bytes / (1 << 30))) +
                                " GiB, more than this machine's memory (" + c10::str(static_cast<long long>(physical / (1 << 30))) + " GiB)");
}

namespace {

using Row = OpDef;
constexpr auto M = Surface::Method;
constexpr auto Fn = Surface::Function;

template <class G>
Result tensorOrScalar(const Args& a, G g) {
  return a.isTensor(1) ? g(a.t(0), a.t(1)) : g(a.t(0), a.scalar(1));
}

// A number where a tensor is expected becomes a 0-d tensor of the other operand's dtype and device.
at::Tensor asTensor(const Args& a, size_t i, const at::Tensor& like) {
  return a.isTensor(i) ? a.t(i) : at::scalar_tensor(a.scalar(i), like.options());
}

c10::optional<at::ScalarType> optDtype(const Args& a, size_t i) {
  return a.has(i) ? c10::optional<at::ScalarType>(parseDtype(a.s(i), "dtype")) : c10::nullopt;
}

std::vector<int64_t> allDims(const at::Tensor& t) {
  std::vector<int64_t> d(t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) d[i] = i;
  return d;
}

// dim given: those dims; not given: all dims (so keepdim still applies).
std::vector<int64_t> dimsOrAll(const Args& a, size_t i) { return a.has(i) ? a.ints(i) : allDims(a.t(0)); }

at::Generator seeded(const Args& a, size_t i) {
  return a.has(i) ? at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(a.i64(i))) : at::Generator();
}

// Random tensors are drawn on the CPU, then moved: a seed gives the same numbers on every device.
template <class Draw>
Result randomTensor(const Args& a, Draw draw) {
  const at::TensorOptions o = factoryOptions(a, 2, 3);
  checkAllocation(a.ints(0), o.dtype().toScalarType());
  at::Tensor t = draw(a.ints(0), seeded(a, 1), o.device(at::kCPU)).to(o.device());
  return t.set_requires_grad(a.b(4));
}

int64_t reduction(const std::string& name) {
  if (name == "mean") return at::Reduction::Mean;
  if (name == "sum") return at::Reduction::Sum;
  if (name == "none") return at::Reduction::None;
  throw std::invalid_argument("argument 'reduction' expected 'mean', 'sum' or 'none', got '" + name + "'");
}

c10::optional<c10::string_view> fftNorm(const Args& a, size_t i) {
  const std::string& n = a.s(i);
  if (n != "backward" && n != "ortho" && n != "forward")
    throw std::invalid_argument("argument 'norm' expected 'backward', 'ortho' or 'forward', got '" + n + "'");
  return c10::string_view(n.data(), n.size());
}

F::PadFuncOptions::mode_t padMode(const std::string& m) {
  if (m == "constant") return torch::kConstant;
  if (m == "reflect") return torch::kReflect;
  if (m == "replicate") return torch::kReplicate;
  if (m == "circular") return torch::kCircular;
  throw std::invalid_argument("argument 'mode' expected 'constant', 'reflect', 'replicate' or 'circular', got '" + m + "'");
}

F::InterpolateFuncOptions::mode_t interpolationMode(const std::string& m) {
  if (m == "nearest") return torch::kNearest;
  if (m == "bilinear") return torch::kBilinear;
  if (m == "bicubic") return torch::kBicubic;
  if (m == "area") return torch::kArea;
  throw std::invalid_argument("argument 'mode' expected 'nearest', 'bilinear', 'bicubic' or 'area', got '" + m + "'");
}

// softmax(q kᵀ · scale + mask) v over the last two dims; mask is added (use -inf to block).
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask, c10::optional<double> scale) {
  const double s = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  at::Tensor logits = at::matmul(q, k.transpose(-2, -1)) * s;
  if (mask.defined()) logits = mask.scalar_type() == at::kBool ? logits.masked_fill(mask.logical_not(), -INFINITY) : logits + mask;
  return at::matmul(at::softmax(logits, -1), v);
}

#define UNARY(js, call, doc) \
  Row { js, "self:T", "T", M, false, [](const Args& a) -> Result { return call(a.t(0)); }, doc }
#define BINARY(js, call, doc)                                                                                   \
  Row {                                                                                                         \
    js, "self:T other:TS", "T", M, false, [](const Args& a) -> Result {                                         \
      return tensorOrScalar(a, [](const at::Tensor& x, const auto& y) -> at::Tensor { return call(x, y); });     \
    },                                                                                                          \
        doc                                                                                                     \
  }
#define TENSOR_BINARY(js, call, doc)                                                                                  \
  Row {                                                                                                               \
    js, "self:T other:TS", "T", M, false, [](const Args& a) -> Result { return call(a.t(0), asTensor(a, 1, a.t(0))); }, \
        doc                                                                                                           \
  }
#define REDUCE(js, call, doc)                                                                                         \
  Row {                                                                                                               \
    js, "self:T | dim:Is? keepdim:B=false", "T", M, false,                                                            \
        [](const Args& a) -> Result { return call(a.t(0), dimsOrAll(a, 1), a.b(2)); }, doc                            \
  }
#define FILLED(js, value, doc)                                                                                      \
  Row {                                                                                                             \
    js, "shape:Is | dtype:S? device:S? requiresGrad:B=false", "T", Fn, false, [](const Args& a) -> Result {         \
      const at::TensorOptions o = factoryOptions(a, 1, 2);                                                          \
      checkAllocation(a.ints(0), o.dtype().toScalarType());                                                         \
      return at::full(a.ints(0), value, o).set_requires_grad(a.b(3));                                               \
    },                                                                                                              \
        doc                                                                                                         \
  }

const std::vector<OpDef> rows = {
    // ---- factories ----
    {"tensor", "data:D shape:Is | dtype:S? device:S? requiresGrad:B=false", "T", Fn, false,
     [](const Args& a) -> Result {
       const at::Tensor& flat = a.t(0);
       checkAllocation(a.ints(1), flat.scalar_type());
       int64_t numel = 1;
       for (int64_t d : a.ints(1)) numel *= d;
       if (numel != flat.numel())
         throw std::invalid_argument("argument 'shape' " + c10::str(c10::IntArrayRef(a.ints(1))) + " holds " + std::to_string(numel) +
                                     " elements but 'data' has " + std::to_string(flat.numel()));
       at::Tensor t = flat.reshape(a.ints(1));
       const at::ScalarType dtype = a.has(2) ? parseDtype(a.s(2), "dtype") : a.fromArray(0) ? at::kFloat : t.scalar_type();
       t = t.to(factoryOptions(a, 2, 3).dtype(dtype));
       return t.set_requires_grad(a.b(4));
     },
     "A tensor from a typed array or number[] and a shape (copies the data)."},
    FILLED("zeros", 0, "A tensor of zeros."),
    FILLED("ones", 1, "A tensor of ones."),
    {"full", "shape:Is value:N | dtype:S? device:S? requiresGrad:B=false", "T", Fn, false,
     [](const Args& a) -> Result {
       const at::TensorOptions o = factoryOptions(a, 2, 3);
       checkAllocation(a.ints(0), o.dtype().toScalarType());
       return at::full(a.ints(0), a.n(1), o).set_requires_grad(a.b(4));
     },
     "A tensor filled with one value."},
    {"arange", "start:N end:N? step:N=1 | dtype:S? device:S?", "T", Fn, false,
     [](const Args& a) -> Result {
       const double start = a.has(1) ? a.n(0) : 0, end = a.has(1) ? a.n(1) : a.n(0);
       if (a.n(2) == 0 || !std::isfinite(start) || !std::isfinite(end)) throw std::invalid_argument("argument 'step' must be non-zero and the range finite");
       const at::TensorOptions o = factoryOptions(a, 3, 4);
       checkAllocation({static_cast<int64_t>(std::max(0.0, std::ceil((end - start) / a.n(2))))}, o.dtype().toScalarType());
       return at::arange(start, end, a.n(2), o);
     },
     "Values start, start + step, ... below end (arange(n) counts 0..n-1)."},
    {"linspace", "start:N end:N steps:I | dtype:S? device:S?", "T", Fn, false,
     [](const Args& a) -> Result {
       const at::TensorOptions o = factoryOptions(a, 3, 4);
       checkAllocation({a.i64(2)}, o.dtype().toScalarType());
       return at::linspace(a.n(0), a.n(1), a.i64(2), o);
     },
     "steps evenly spaced values from start to end inclusive."},
    {"eye", "n:I m:I? | dtype:S? device:S?", "T", Fn, false,
     [](const Args& a) -> Result {
       const at::TensorOptions o = factoryOptions(a, 2, 3);
       const int64_t m = a.has(1) ? a.i64(1) : a.i64(0);
       checkAllocation({a.i64(0), m}, o.dtype().toScalarType());
       return at::eye(a.i64(0), m, o);
     },
     "An identity matrix."},
    {"randn", "shape:Is | seed:I? dtype:S? device:S? requiresGrad:B=false", "T", Fn, false,
     [](const Args& a) -> Result {
       return randomTensor(a, [](auto& s, const at::Generator& g, const at::TensorOptions& o) { return at::randn(s, g, o); });
     },
     "Standard normal samples; a seed makes them reproducible on every device."},
    {"rand", "shape:Is | seed:I? dtype:S? device:S? requiresGrad:B=false", "T", Fn, false,
     [](const Args& a) -> Result {
       return randomTensor(a, [](auto& s, const at::Generator& g, const at::TensorOptions& o) { return at::rand(s, g, o); });
     },
     "Uniform samples in [0, 1)."},
    {"randperm", "n:I | seed:I? device:S?", "T", Fn, false,
     [](const Args& a) -> Result {
       checkAllocation({a.i64(0)}, at::kLong);
       at::Tensor p = at::randperm(a.i64(0), seeded(a, 1), at::TensorOptions().dtype(at::kLong));
       return a.has(2) ? p.to(parseDevice(a.s(2), "device")) : p;
     },
     "A random permutation of 0..n-1 (int64)."},
    {"manualSeed", "seed:I", "none", Fn, false, [](const Args& a) -> Result { at::manual_seed(static_cast<uint64_t>(a.i64(0))); return {}; },
     "Seeds LibTorch's global generator (used where no seed is given)."},
    UNARY("zerosLike", at::zeros_like, "Zeros with this tensor's shape, dtype and device."),
    UNARY("onesLike", at::ones_like, "Ones with this tensor's shape, dtype and device."),
    {"randnLike", "self:T | seed:I?", "T", M, false,
     [](const Args& a) -> Result { return at::randn(a.t(0).sizes(), seeded(a, 1), a.t(0).options().device(at::kCPU)).to(a.t(0).device()); },
     "Standard normal samples shaped like this tensor."},
    {"gaussianNoise", "shape:Is | seed:I=0 std:N=1 dtype:S? device:S?", "T", Fn, false,
     [](const Args& a) -> Result {
       const at::TensorOptions o = factoryOptions(a, 3, 4);
       checkAllocation(a.ints(0), o.dtype().toScalarType());
       return samplers::gaussianNoise(a.ints(0), a.seed(1), a.n(2), o);
     },
     "std · z, z ~ N(0, I) from the counter-based generator keyed by seed: the same numbers on every device and thread count, "
     "and faster to draw than randn."},
    {"combine", "tensors:Ts coefficients:Ns | noise:N=0 seed:I=0", "T", Fn, false,
     [](const Args& a) -> Result { return samplers::combine(a.ts(0), a.numbers(1), a.n(2), a.seed(3)); },
     "Σ coefficients[k]·tensors[k] + noise·z (z as gaussianNoise keyed by seed) in one pass over memory: a sampler step in one call."},

    // ---- conversion ----
    {"to", "self:T | dtype:S? device:S?", "T", M, false,
     [](const Args& a) -> Result {
       const at::Tensor& t = a.t(0);
       return t.to(a.has(2) ? parseDevice(a.s(2), "device") : t.device(), a.has(1) ? parseDtype(a.s(1), "dtype") : t.scalar_type());
     },
     "A copy with another dtype and/or device (the same tensor when nothing changes)."},
    UNARY("clone", at::clone, "A copy that shares nothing with this tensor."),
    {"contiguous", "self:T", "T", M, false, [](const Args& a) -> Result { return a.t(0).contiguous(); }, "This tensor laid out contiguously."},
    {"detach", "self:T", "T", M, false, [](const Args& a) -> Result { return a.t(0).detach(); }, "The same data, cut from the autograd graph."},

    // ---- arithmetic and math ----
    BINARY("add", at::add, "Elementwise x + other (broadcasting)."),
    BINARY("sub", at::sub, "Elementwise x - other."),
    BINARY("mul", at::mul, "Elementwise x * other."),
    BINARY("div", at::div, "Elementwise x / other (true division)."),
    BINARY("pow", at::pow, "Elementwise x ** other."),
    BINARY("remainder", at::remainder, "Elementwise remainder with the sign of the divisor."),
    TENSOR_BINARY("maximum", at::maximum, "Elementwise maximum."),
    TENSOR_BINARY("minimum", at::minimum, "Elementwise minimum."),
    TENSOR_BINARY("atan2", at::atan2, "Elementwise atan2(x, other)."),
    UNARY("neg", at::neg, "-x"),
    UNARY("abs", at::abs, "|x| (the modulus for complex tensors)."),
    UNARY("exp", at::exp, "e^x"),
    UNARY("log", at::log, "Natural logarithm."),
    UNARY("log2", at::log2, "Base-2 logarithm."),
    UNARY("log10", at::log10, "Base-10 logarithm."),
    UNARY("log1p", at::log1p, "log(1 + x)"),
    UNARY("expm1", at::expm1, "e^x - 1"),
    UNARY("sqrt", at::sqrt, "Square root."),
    UNARY("rsqrt", at::rsqrt, "1 / sqrt(x)"),
    UNARY("square", at::square, "x²"),
    UNARY("reciprocal", at::reciprocal, "1 / x"),
    UNARY("sin", at::sin, "Sine."),
    UNARY("cos", at::cos, "Cosine."),
    UNARY("tan", at::tan, "Tangent."),
    UNARY("asin", at::asin, "Arcsine."),
    UNARY("acos", at::acos, "Arccosine."),
    UNARY("atan", at::atan, "Arctangent."),
    UNARY("sinh", at::sinh, "Hyperbolic sine."),
    UNARY("cosh", at::cosh, "Hyperbolic cosine."),
    UNARY("tanh", at::tanh, "Hyperbolic tangent."),
    UNARY("sigmoid", at::sigmoid, "1 / (1 + e^-x)"),
    UNARY("relu", at::relu, "max(x, 0)"),
    {"gelu", "self:T", "T", M, false, [](const Args& a) -> Result { return at::gelu(a.t(0)); }, "Gaussian error linear unit."},
    UNARY("silu", at::silu, "x · sigmoid(x)"),
    {"softplus", "self:T", "T", M, false, [](const Args& a) -> Result { return at::softplus(a.t(0)); }, "log(1 + e^x)"},
    {"leakyRelu", "self:T | slope:N=0.01", "T", M, false, [](const Args& a) -> Result { return at::leaky_relu(a.t(0), a.n(1)); },
     "x for x > 0, slope · x otherwise."},
    UNARY("sign", at::sign, "-1, 0 or 1."),
    UNARY("floor", at::floor, "Round down."),
    UNARY("ceil", at::ceil, "Round up."),
    UNARY("round", at::round, "Round half to even."),
    UNARY("trunc", at::trunc, "Round toward zero."),
    UNARY("erf", at::erf, "The error function."),
    UNARY("isnan", at::isnan, "True where x is NaN."),
    UNARY("isfinite", at::isfinite, "True where x is finite."),
    UNARY("logicalNot", at::logical_not, "Elementwise not."),
    {"clamp", "self:T | min:N? max:N?", "T", M, false,
     [](const Args& a) -> Result {
       if (!a.has(1) && !a.has(2)) throw std::invalid_argument("clamp needs 'min', 'max' or both");
       return at::clamp(a.t(0), a.has(1) ? c10::optional<at::Scalar>(a.n(1)) : c10::nullopt,
                        a.has(2) ? c10::optional<at::Scalar>(a.n(2)) : c10::nullopt);
     },
     "Limits values to [min, max]."},

    // ---- comparison and selection ----
    BINARY("eq", at::eq, "x == other (bool)."),
    BINARY("ne", at::ne, "x != other (bool)."),
    BINARY("lt", at::lt, "x < other (bool)."),
    BINARY("le", at::le, "x <= other (bool)."),
    BINARY("gt", at::gt, "x > other (bool)."),
    BINARY("ge", at::ge, "x >= other (bool)."),
    TENSOR_BINARY("logicalAnd", at::logical_and, "Elementwise and."),
    TENSOR_BINARY("logicalOr", at::logical_or, "Elementwise or."),
    {"where", "condition:T a:TS b:TS", "T", Fn, false,
     [](const Args& a) -> Result {
       const at::Tensor like = a.isTensor(1) ? a.t(1) : a.isTensor(2) ? a.t(2) : at::empty({0}, a.t(0).options().dtype(at::kFloat));
       return at::where(a.t(0), asTensor(a, 1, like), asTensor(a, 2, like));
     },
     "a where condition holds, b elsewhere."},
    {"maskedFill", "self:T mask:T value:N", "T", M, false, [](const Args& a) -> Result { return a.t(0).masked_fill(a.t(1), a.n(2)); },
     "value where mask is true."},
    {"allclose", "self:T other:T | rtol:N=1e-05 atol:N=1e-08", "B", M, false,
     [](const Args& a) -> Result { return at::allclose(a.t(0), a.t(1), a.n(2), a.n(3)); }, "|x - other| <= atol + rtol·|other| everywhere."},
    {"equal", "self:T other:T", "B", M, false, [](const Args& a) -> Result { return at::equal(a.t(0), a.t(1)); },
     "Same shape and the same values."},

    // ---- reductions ----
    {"sum", "self:T | dim:Is? keepdim:B=false dtype:S?", "T", M, false,
     [](const Args& a) -> Result { return at::sum(a.t(0), dimsOrAll(a, 1), a.b(2), optDtype(a, 3)); }, "Sum over dim (all dims if none)."},
    {"mean", "self:T | dim:Is? keepdim:B=false dtype:S?", "T", M, false,
     [](const Args& a) -> Result { return at::mean(a.t(0), dimsOrAll(a, 1), a.b(2), optDtype(a, 3)); }, "Mean over dim (all dims if none)."},
    REDUCE("amax", at::amax, "Maximum over dim (all dims if none)."),
    REDUCE("amin", at::amin, "Minimum over dim (all dims if none)."),
    {"max", "self:T | dim:I? keepdim:B=false", "T", M, false,
     [](const Args& a) -> Result { return a.has(1) ? std::get<0>(at::max(a.t(0), a.i64(1), a.b(2))) : at::amax(a.t(0), allDims(a.t(0)), a.b(2)); },
     "Largest value (along dim if given)."},
    {"min", "self:T | dim:I? keepdim:B=false", "T", M, false,
     [](const Args& a) -> Result { return a.has(1) ? std::get<0>(at::min(a.t(0), a.i64(1), a.b(2))) : at::amin(a.t(0), allDims(a.t(0)), a.b(2)); },
     "Smallest value (along dim if given)."},
    {"argmax", "self:T | dim:I? keepdim:B=false", "T", M, false, [](const Args& a) -> Result { return at::argmax(a.t(0), a.optInt(1), a.b(2)); },
     "Index of the largest value (flattened if no dim)."},
    {"argmin", "self:T | dim:I? keepdim:B=false", "T", M, false, [](const Args& a) -> Result { return at::argmin(a.t(0), a.optInt(1), a.b(2)); },
     "Index of the smallest value (flattened if no dim)."},
    {"prod", "self:T | dim:I? keepdim:B=false", "T", M, false,
     [](const Args& a) -> Result { return a.has(1) ? at::prod(a.t(0), a.i64(1), a.b(2)) : at::prod(a.t(0)); }, "Product (along dim if given)."},
    {"std", "self:T | dim:Is? unbiased:B=true keepdim:B=false", "T", M, false,
     [](const Args& a) -> Result { return at::std(a.t(0), c10::OptionalIntArrayRef(dimsOrAll(a, 1)), a.b(2), a.b(3)); }, "Standard deviation."},
    {"var", "self:T | dim:Is? unbiased:B=true keepdim:B=false", "T", M, false,
     [](const Args& a) -> Result { return at::var(a.t(0), c10::OptionalIntArrayRef(dimsOrAll(a, 1)), a.b(2), a.b(3)); }, "Variance."},
    {"norm", "self:T | p:N=2 dim:Is? keepdim:B=false", "T", M, false,
     [](const Args& a) -> Result { return at::norm(a.t(0), a.n(1), dimsOrAll(a, 2), a.b(3)); }, "The p-norm over dim (all dims if none)."},
    {"logsumexp", "self:T dim:Is | keepdim:B=false", "T", M, false,
     [](const Args& a) -> Result { return at::logsumexp(a.t(0), a.ints(1), a.b(2)); }, "log Σ exp(x) over dim, computed stably."},
    {"argsort", "self:T | dim:I=-1 descending:B=false", "T", M, false,
     [](const Args& a) -> Result { return at::argsort(a.t(0), a.i64(1), a.b(2)); }, "Indices that sort along dim."},
    {"sort", "self:T | dim:I=-1 descending:B=false", "Ts", M, false,
     [](const Args& a) -> Result {
       auto [values, indices] = at::sort(a.t(0), a.i64(1), a.b(2));
       return std::vector<at::Tensor>{values, indices};
     },
     "[values, indices] sorted along dim."},
    {"cumsum", "self:T dim:I", "T", M, false, [](const Args& a) -> Result { return at::cumsum(a.t(0), a.i64(1)); }, "Cumulative sum along dim."},
    {"all", "self:T", "B", M, false, [](const Args& a) -> Result { return at::all(a.t(0)).item<bool>(); }, "True if every element is non-zero."},
    {"any", "self:T", "B", M, false, [](const Args& a) -> Result { return at::any(a.t(0)).item<bool>(); }, "True if some element is non-zero."},

    // ---- shapes ----
    {"reshape", "self:T shape:Is", "T", M, false, [](const Args& a) -> Result { return a.t(0).reshape(a.ints(1)); },
     "The same elements in a new shape (-1 infers one size)."},
    {"permute", "self:T dims:Is", "T", M, false, [](const Args& a) -> Result { return a.t(0).permute(a.ints(1)); }, "Reorders the dims."},
    {"transpose", "self:T dim0:I dim1:I", "T", M, false, [](const Args& a) -> Result { return a.t(0).transpose(a.i64(1), a.i64(2)); },
     "Swaps two dims."},
    {"flatten", "self:T | startDim:I=0 endDim:I=-1", "T", M, false,
     [](const Args& a) -> Result { return a.t(0).flatten(a.i64(1), a.i64(2)); }, "Merges dims startDim..endDim."},
    {"squeeze", "self:T | dim:I?", "T", M, false,
     [](const Args& a) -> Result { return a.has(1) ? a.t(0).squeeze(a.i64(1)) : a.t(0).squeeze(); }, "Drops size-1 dims (only dim if given)."},
    {"unsqueeze", "self:T dim:I", "T", M, false, [](const Args& a) -> Result { return a.t(0).unsqueeze(a.i64(1)); }, "Inserts a size-1 dim."},
    {"expand", "self:T shape:Is", "T", M, false, [](const Args& a) -> Result { return a.t(0).expand(a.ints(1)); },
     "Broadcasts size-1 dims to shape without copying (-1 keeps a size)."},
    {"repeat", "self:T repeats:Is", "T", M, false, [](const Args& a) -> Result { return a.t(0).repeat(a.ints(1)); }, "Tiles the tensor."},
    {"cat", "tensors:Ts | dim:I=0", "T", Fn, false, [](const Args& a) -> Result { return at::cat(a.ts(0), a.i64(1)); },
     "Joins tensors along an existing dim."},
    {"stack", "tensors:Ts | dim:I=0", "T", Fn, false, [](const Args& a) -> Result { return at::stack(a.ts(0), a.i64(1)); },
     "Joins tensors along a new dim."},
    {"chunk", "self:T chunks:I | dim:I=0", "Ts", M, false, [](const Args& a) -> Result { return a.t(0).chunk(a.i64(1), a.i64(2)); },
     "Splits into that many nearly equal pieces."},
    {"split", "self:T size:I | dim:I=0", "Ts", M, false, [](const Args& a) -> Result { return a.t(0).split(a.i64(1), a.i64(2)); },
     "Splits into pieces of a given size."},
    {"narrow", "self:T dim:I start:I length:I", "T", M, false,
     [](const Args& a) -> Result { return a.t(0).narrow(a.i64(1), a.i64(2), a.i64(3)); }, "length elements of dim from start (a view)."},
    {"slice", "self:T dim:I | start:I? end:I? step:I=1", "T", M, false,
     [](const Args& a) -> Result { return a.t(0).slice(a.i64(1), a.optInt(2), a.optInt(3), a.i64(4)); }, "start:end:step along dim (a view)."},
    {"select", "self:T dim:I index:I", "T", M, false, [](const Args& a) -> Result { return a.t(0).select(a.i64(1), a.i64(2)); },
     "One index of dim, dropping that dim."},
    {"indexSelect", "self:T dim:I index:T", "T", M, false, [](const Args& a) -> Result { return a.t(0).index_select(a.i64(1), a.t(2)); },
     "Entries of dim at the given int64 indices."},
    {"gather", "self:T dim:I index:T", "T", M, false, [](const Args& a) -> Result { return a.t(0).gather(a.i64(1), a.t(2)); },
     "out[i][j] = x[index[i][j]][j] (for dim 0), and so on."},
    {"scatter", "self:T dim:I index:T src:T", "T", M, false,
     [](const Args& a) -> Result { return a.t(0).scatter(a.i64(1), a.t(2), a.t(3)); }, "The inverse of gather, out of place."},
    {"flip", "self:T dims:Is", "T", M, false, [](const Args& a) -> Result { return a.t(0).flip(a.ints(1)); }, "Reverses the order along dims."},
    {"roll", "self:T shifts:Is | dims:Is?", "T", M, false,
     [](const Args& a) -> Result { return a.has(2) ? a.t(0).roll(a.ints(1), a.ints(2)) : a.t(0).roll(a.ints(1)); },
     "Circular shift along dims (flattened if none)."},
    {"pad", "self:T pad:Is | mode:S=constant value:N=0", "T", M, false,
     [](const Args& a) -> Result { return F::pad(a.t(0), F::PadFuncOptions(a.ints(1)).mode(padMode(a.s(2))).value(a.n(3))); },
     "Pads the last dims: [left, right, top, bottom, ...]."},

    // ---- linear algebra ----
    {"matmul", "self:T other:T", "T", M, true, [](const Args& a) -> Result { return at::matmul(a.t(0), a.t(1)); },
     "Matrix product with broadcasting of batch dims."},
    {"bmm", "self:T other:T", "T", M, true, [](const Args& a) -> Result { return at::bmm(a.t(0), a.t(1)); }, "Batched matrix product (B×n×m)·(B×m×p)."},
    {"dot", "self:T other:T", "T", M, false, [](const Args& a) -> Result { return at::dot(a.t(0), a.t(1)); }, "Inner product of two vectors."},
    {"einsum", "equation:S tensors:Ts", "T", Fn, false, [](const Args& a) -> Result { return at::einsum(a.s(0), a.ts(1)); },
     "Einstein summation."},
    {"pinverse", "self:T | rcond:N=1e-15", "T", M, true, [](const Args& a) -> Result { return at::pinverse(a.t(0), a.n(1)); },
     "Moore-Penrose pseudo-inverse (batched)."},
    {"svd", "self:T | fullMatrices:B=false", "Ts", M, true,
     [](const Args& a) -> Result {
       auto [u, s, vh] = at::linalg_svd(a.t(0), a.b(1));
       return std::vector<at::Tensor>{u, s, vh};
     },
     "[U, S, Vh] with x = U diag(S) Vh."},
    {"qr", "self:T | mode:S=reduced", "Ts", M, true,
     [](const Args& a) -> Result {
       auto [q, r] = at::linalg_qr(a.t(0), c10::string_view(a.s(1).data(), a.s(1).size()));
       return std::vector<at::Tensor>{q, r};
     },
     "[Q, R] with x = Q R."},
    {"solve", "self:T b:T", "T", M, true, [](const Args& a) -> Result { return at::linalg_solve(a.t(0), a.t(1)); }, "X with self · X = b."},

    // ---- FFT and complex ----
    {"fft2", "self:T | norm:S=backward", "T", M, false,
     [](const Args& a) -> Result { return at::fft_fft2(a.t(0), c10::nullopt, {-2, -1}, fftNorm(a, 1)); }, "2-D FFT over the last two dims."},
    {"ifft2", "self:T | norm:S=backward", "T", M, false,
     [](const Args& a) -> Result { return at::fft_ifft2(a.t(0), c10::nullopt, {-2, -1}, fftNorm(a, 1)); }, "Inverse 2-D FFT over the last two dims."},
    {"fftshift", "self:T | dims:Is=-2,-1", "T", M, false, [](const Args& a) -> Result { return at::fft_fftshift(a.t(0), a.ints(1)); },
     "Moves the zero frequency to the centre."},
    {"ifftshift", "self:T | dims:Is=-2,-1", "T", M, false, [](const Args& a) -> Result { return at::fft_ifftshift(a.t(0), a.ints(1)); },
     "Undoes fftshift."},
    UNARY("real", at::real, "Real part."),
    UNARY("imag", at::imag, "Imaginary part."),
    UNARY("angle", at::angle, "Phase."),
    UNARY("conj", at::conj_physical, "Complex conjugate."),
    UNARY("viewAsReal", at::view_as_real, "A complex tensor as a real one with a trailing dim of 2."),
    UNARY("viewAsComplex", at::view_as_complex, "A real tensor with a trailing dim of 2 as a complex one."),
    {"complex", "real:T imag:T", "T", Fn, false, [](const Args& a) -> Result { return at::complex(a.t(0), a.t(1)); },
     "A complex tensor from real and imaginary parts."},

    // ---- network functionals ----
    {"linear", "input:T weight:T | bias:T?", "T", Fn, false, [](const Args& a) -> Result { return at::linear(a.t(0), a.t(1), a.t(2)); },
     "input · weightᵀ + bias."},
    {"conv2d", "input:T weight:T | bias:T? stride:Is=1 padding:Is=0 dilation:Is=1 groups:I=1", "T", Fn, true,
     [](const Args& a) -> Result { return at::conv2d(a.t(0), a.t(1), a.t(2), a.ints(3), a.ints(4), a.ints(5), a.i64(6)); },
     "2-D convolution (NCHW)."},
    {"convTranspose2d", "input:T weight:T | bias:T? stride:Is=1 padding:Is=0 outputPadding:Is=0 groups:I=1 dilation:Is=1", "T", Fn, true,
     [](const Args& a) -> Result {
       return at::conv_transpose2d(a.t(0), a.t(1), a.t(2), a.ints(3), a.ints(4), a.ints(5), a.i64(6), a.ints(7));
     },
     "2-D transposed convolution (NCHW)."},
    {"interpolate", "input:T | size:Is? scaleFactor:N? mode:S=nearest alignCorners:B?", "T", Fn, false,
     [](const Args& a) -> Result {
       if (a.has(1) == a.has(2)) throw std::invalid_argument("interpolate needs exactly one of 'size' and 'scaleFactor'");
       auto o = F::InterpolateFuncOptions().mode(interpolationMode(a.s(3)));
       if (a.has(1)) o = o.size(a.ints(1));
       else o = o.scale_factor(std::vector<double>(a.t(0).dim() - 2, a.n(2)));
       if (a.has(4)) o = o.align_corners(a.b(4));
       return F::interpolate(a.t(0), o);
     },
     "Resizes the spatial dims (nearest, bilinear, bicubic, area)."},
    {"avgPool2d", "input:T kernel:Is | stride:Is? padding:Is=0", "T", Fn, false,
     [](const Args& a) -> Result { return at::avg_pool2d(a.t(0), a.ints(1), a.has(2) ? a.ints(2) : a.ints(1), a.ints(3)); },
     "Average pooling (stride defaults to the kernel)."},
    {"maxPool2d", "input:T kernel:Is | stride:Is? padding:Is=0", "T", Fn, false,
     [](const Args& a) -> Result { return at::max_pool2d(a.t(0), a.ints(1), a.has(2) ? a.ints(2) : a.ints(1), a.ints(3)); },
     "Max pooling (stride defaults to the kernel)."},
    {"adaptiveAvgPool2d", "input:T size:Is", "T", Fn, false,
     [](const Args& a) -> Result { return at::adaptive_avg_pool2d(a.t(0), a.ints(1)); }, "Average pooling to a given output size."},
    {"pixelShuffle", "input:T factor:I", "T", Fn, false, [](const Args& a) -> Result { return at::pixel_shuffle(a.t(0), a.i64(1)); },
     "(C·r², H, W) → (C, H·r, W·r)."},
    {"pixelUnshuffle", "input:T factor:I", "T", Fn, false, [](const Args& a) -> Result { return at::pixel_unshuffle(a.t(0), a.i64(1)); },
     "(C, H·r, W·r) → (C·r², H, W)."},
    {"groupNorm", "input:T groups:I | weight:T? bias:T? eps:N=1e-05", "T", Fn, false,
     [](const Args& a) -> Result { return at::group_norm(a.t(0), a.i64(1), a.t(2), a.t(3), a.n(4)); }, "Group normalisation."},
    {"layerNorm", "input:T shape:Is | weight:T? bias:T? eps:N=1e-05", "T", Fn, false,
     [](const Args& a) -> Result { return at::layer_norm(a.t(0), a.ints(1), a.t(2), a.t(3), a.n(4)); }, "Layer normalisation over the last dims."},
    {"softmax", "self:T dim:I", "T", M, false, [](const Args& a) -> Result { return at::softmax(a.t(0), a.i64(1)); }, "Softmax along dim."},
    {"logSoftmax", "self:T dim:I", "T", M, false, [](const Args& a) -> Result { return at::log_softmax(a.t(0), a.i64(1)); },
     "log(softmax) along dim, computed stably."},
    {"attention", "query:T key:T value:T | mask:T? scale:N?", "T", Fn, true,
     [](const Args& a) -> Result {
       return attention(a.t(0), a.t(1), a.t(2), a.t(3), a.has(4) ? c10::optional<double>(a.n(4)) : c10::nullopt);
     },
     "Scaled dot-product attention softmax(q kᵀ/√d + mask) v; a bool mask keeps where true."},
    {"dropout", "input:T p:N | train:B=true", "T", Fn, false,
     [](const Args& a) -> Result {
       if (!(a.n(1) >= 0 && a.n(1) <= 1)) throw std::invalid_argument("argument 'p' expected a probability in [0, 1]");
       return at::dropout(a.t(0), a.n(1), a.b(2));
     },
     "Zeroes elements with probability p and rescales the rest (training only)."},
    {"mseLoss", "input:T target:T | reduction:S=mean", "T", Fn, false,
     [](const Args& a) -> Result { return at::mse_loss(a.t(0), a.t(1), reduction(a.s(2))); }, "Mean squared error."},
    {"l1Loss", "input:T target:T | reduction:S=mean", "T", Fn, false,
     [](const Args& a) -> Result { return at::l1_loss(a.t(0), a.t(1), reduction(a.s(2))); }, "Mean absolute error."},
};

}  // namespace

const std::vector<OpDef>& tensorOps() { return rows; }

}  // namespace invdiff::binding
