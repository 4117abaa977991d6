// Tensor rows of the op table: factories, arithmetic, reductions, shapes, linear algebra, FFT and the
// network functionals. One body per row of ops.json, which declares its arguments.
#include <sys/sysinfo.h>
#include <unistd.h>

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Reduction.h>
#include <torch/nn/functional/padding.h>
#include <torch/nn/functional/upsampling.h>

#include "binding/table.h"
#include "core/nn/neighborhood_attention.h"
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
void checkAllocation(const std::vector<int64_t>& shape, at::ScalarType dtype, const char* argument) {
  long double bytes = static_cast<long double>(c10::elementSize(dtype));
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] < 0)
      throw std::invalid_argument(std::string("argument '") + argument + "' expected non-negative sizes, got " + std::to_string(shape[i]) + " at dimension " + std::to_string(i));
    bytes *= static_cast<long double>(shape[i]);
  }
  const long double physical = static_cast<long double>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE);
  if (bytes > physical)
    throw std::invalid_argument(std::string("argument '") + argument + "' asks for " + c10::str(static_cast<long long>(bytes / (1 << 30))) +
                                " GiB, more than this machine's memory (" + c10::str(static_cast<long long>(physical / (1 << 30))) + " GiB)");
}

namespace {

using Row = OpImpl;

// The sizes of ops whose output may be far larger than their input, checked as the factories' are.
void checkRepeat(const at::Tensor& t, const std::vector<int64_t>& repeats) {
  if (repeats.size() < static_cast<size_t>(t.dim()))
    throw std::invalid_argument("argument 'repeats' needs at least one entry per dimension (" + std::to_string(t.dim()) + "), got " + std::to_string(repeats.size()));
  std::vector<int64_t> out(repeats);
  const size_t lead = repeats.size() - t.dim();
  // Each size capped at 2^40 so the product cannot overflow: that much is more than any machine's memory.
  for (int64_t d = 0; d < t.dim(); ++d)
    out[lead + d] = static_cast<int64_t>(std::min<long double>(static_cast<long double>(repeats[lead + d]) * t.size(d), static_cast<long double>(int64_t(1) << 40)));
  checkAllocation(out, t.scalar_type(), "repeats");
}

void checkPad(const at::Tensor& t, const std::vector<int64_t>& pad) {
  if (pad.size() % 2 || pad.size() / 2 > static_cast<size_t>(t.dim()))
    throw std::invalid_argument("argument 'pad' expected pairs [left, right, top, bottom, ...] for at most " + std::to_string(t.dim()) + " dimensions, got " + std::to_string(pad.size()) + " values");
  std::vector<int64_t> out = t.sizes().vec();
  for (size_t k = 0; k < pad.size() / 2; ++k) {
    const size_t d = out.size() - 1 - k;
    out[d] = std::max<int64_t>(0, std::min<int64_t>(std::max(std::abs(pad[2 * k]), std::abs(pad[2 * k + 1])), int64_t(1) << 40) * 2 + out[d]);
  }
  checkAllocation(out, t.scalar_type(), "pad");
}

void checkInterpolate(const at::Tensor& t, const Args& a) {
  if (t.dim() < 3) throw std::invalid_argument("argument 'input' expected N×C×... with at least one spatial dimension, got " + c10::str(t.sizes()));
  std::vector<int64_t> out{t.size(0), t.size(1)};
  if (a.has(1)) {
    for (int64_t s : a.ints(1)) out.push_back(s);
    checkAllocation(out, t.scalar_type(), "size");
  } else {
    if (!(a.n(2) > 0) || !std::isfinite(a.n(2))) throw std::invalid_argument("argument 'scaleFactor' expected a finite positive number, got " + c10::str(a.n(2)));
    for (int64_t d = 2; d < t.dim(); ++d) out.push_back(static_cast<int64_t>(std::min(std::floor(t.size(d) * a.n(2)), 1e15)));
    checkAllocation(out, t.scalar_type(), "scaleFactor");
  }
}

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

// Row shapes many ops share; their argument lists are in ops.json.
#define UNARY(js, call) \
  Row { js, [](const Args& a) -> Result { return call(a.t(0)); } }
#define BINARY(js, call)                                                                                    \
  Row {                                                                                                     \
    js, [](const Args& a) -> Result {                                                                       \
      return tensorOrScalar(a, [](const at::Tensor& x, const auto& y) -> at::Tensor { return call(x, y); }); \
    }                                                                                                       \
  }
#define TENSOR_BINARY(js, call) \
  Row { js, [](const Args& a) -> Result { return call(a.t(0), asTensor(a, 1, a.t(0))); } }
#define REDUCE(js, call) \
  Row { js, [](const Args& a) -> Result { return call(a.t(0), dimsOrAll(a, 1), a.b(2)); } }
#define FILLED(js, value)                                             \
  Row {                                                               \
    js, [](const Args& a) -> Result {                                 \
      const at::TensorOptions o = factoryOptions(a, 1, 2);            \
      checkAllocation(a.ints(0), o.dtype().toScalarType());           \
      return at::full(a.ints(0), value, o).set_requires_grad(a.b(3)); \
    }                                                                 \
  }

const std::vector<OpImpl> rows = {
    // ---- factories ----
    {"tensor",
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
     }},
    FILLED("zeros", 0),
    FILLED("ones", 1),
    {"full",
     [](const Args& a) -> Result {
       const at::TensorOptions o = factoryOptions(a, 2, 3);
       checkAllocation(a.ints(0), o.dtype().toScalarType());
       return at::full(a.ints(0), a.n(1), o).set_requires_grad(a.b(4));
     }},
    {"arange",
     [](const Args& a) -> Result {
       const double start = a.has(1) ? a.n(0) : 0, end = a.has(1) ? a.n(1) : a.n(0);
       if (a.n(2) == 0 || !std::isfinite(start) || !std::isfinite(end)) throw std::invalid_argument("argument 'step' must be non-zero and the range finite");
       const at::TensorOptions o = factoryOptions(a, 3, 4);
       checkAllocation({static_cast<int64_t>(std::max(0.0, std::ceil((end - start) / a.n(2))))}, o.dtype().toScalarType());
       return at::arange(start, end, a.n(2), o);
     }},
    {"linspace",
     [](const Args& a) -> Result {
       const at::TensorOptions o = factoryOptions(a, 3, 4);
       checkAllocation({a.i64(2)}, o.dtype().toScalarType());
       return at::linspace(a.n(0), a.n(1), a.i64(2), o);
     }},
    {"eye",
     [](const Args& a) -> Result {
       const at::TensorOptions o = factoryOptions(a, 2, 3);
       const int64_t m = a.has(1) ? a.i64(1) : a.i64(0);
       checkAllocation({a.i64(0), m}, o.dtype().toScalarType());
       return at::eye(a.i64(0), m, o);
     }},
    {"randn",
     [](const Args& a) -> Result {
       return randomTensor(a, [](auto& s, const at::Generator& g, const at::TensorOptions& o) { return at::randn(s, g, o); });
     }},
    {"rand",
     [](const Args& a) -> Result {
       return randomTensor(a, [](auto& s, const at::Generator& g, const at::TensorOptions& o) { return at::rand(s, g, o); });
     }},
    {"randperm",
     [](const Args& a) -> Result {
       checkAllocation({a.i64(0)}, at::kLong);
       at::Tensor p = at::randperm(a.i64(0), seeded(a, 1), at::TensorOptions().dtype(at::kLong));
       return a.has(2) ? p.to(parseDevice(a.s(2), "device")) : p;
     }},
    {"manualSeed", [](const Args& a) -> Result { at::manual_seed(static_cast<uint64_t>(a.i64(0))); return {}; }},
    UNARY("zerosLike", at::zeros_like),
    UNARY("onesLike", at::ones_like),
    {"randnLike",
     [](const Args& a) -> Result { return at::randn(a.t(0).sizes(), seeded(a, 1), a.t(0).options().device(at::kCPU)).to(a.t(0).device()); }},
    {"gaussianNoise",
     [](const Args& a) -> Result {
       const at::TensorOptions o = factoryOptions(a, 3, 4);
       checkAllocation(a.ints(0), o.dtype().toScalarType());
       return samplers::gaussianNoise(a.ints(0), a.seed(1), a.n(2), o);
     }},
    {"combine",
     [](const Args& a) -> Result { return samplers::combine(a.ts(0), a.numbers(1), a.n(2), a.seed(3)); }},
    {"langevin",
     [](const Args& a) -> Result { return samplers::langevin(a.op(0), a.t(1), a.t(2), a.t(3), a.n(4), a.n(5), a.n(6), a.i64(7), a.seed(8)); }},

    // ---- conversion ----
    {"to",
     [](const Args& a) -> Result {
       const at::Tensor& t = a.t(0);
       return t.to(a.has(2) ? parseDevice(a.s(2), "device") : t.device(), a.has(1) ? parseDtype(a.s(1), "dtype") : t.scalar_type());
     }},
    UNARY("clone", at::clone),
    {"contiguous", [](const Args& a) -> Result { return a.t(0).contiguous(); }},
    {"detach", [](const Args& a) -> Result { return a.t(0).detach(); }},

    // ---- arithmetic and math ----
    BINARY("add", at::add),
    BINARY("sub", at::sub),
    BINARY("mul", at::mul),
    BINARY("div", at::div),
    BINARY("pow", at::pow),
    BINARY("remainder", at::remainder),
    TENSOR_BINARY("maximum", at::maximum),
    TENSOR_BINARY("minimum", at::minimum),
    TENSOR_BINARY("atan2", at::atan2),
    UNARY("neg", at::neg),
    UNARY("abs", at::abs),
    UNARY("exp", at::exp),
    UNARY("log", at::log),
    UNARY("log2", at::log2),
    UNARY("log10", at::log10),
    UNARY("log1p", at::log1p),
    UNARY("expm1", at::expm1),
    UNARY("sqrt", at::sqrt),
    UNARY("rsqrt", at::rsqrt),
    UNARY("square", at::square),
    UNARY("reciprocal", at::reciprocal),
    UNARY("sin", at::sin),
    UNARY("cos", at::cos),
    UNARY("tan", at::tan),
    UNARY("asin", at::asin),
    UNARY("acos", at::acos),
    UNARY("atan", at::atan),
    UNARY("sinh", at::sinh),
    UNARY("cosh", at::cosh),
    UNARY("tanh", at::tanh),
    UNARY("sigmoid", at::sigmoid),
    UNARY("relu", at::relu),
    {"gelu", [](const Args& a) -> Result { return at::gelu(a.t(0)); }},
    UNARY("silu", at::silu),
    {"softplus", [](const Args& a) -> Result { return at::softplus(a.t(0)); }},
    {"leakyRelu", [](const Args& a) -> Result { return at::leaky_relu(a.t(0), a.n(1)); }},
    UNARY("sign", at::sign),
    UNARY("floor", at::floor),
    UNARY("ceil", at::ceil),
    UNARY("round", at::round),
    UNARY("trunc", at::trunc),
    UNARY("erf", at::erf),
    UNARY("isnan", at::isnan),
    UNARY("isfinite", at::isfinite),
    UNARY("logicalNot", at::logical_not),
    {"clamp",
     [](const Args& a) -> Result {
       if (!a.has(1) && !a.has(2)) throw std::invalid_argument("clamp needs 'min', 'max' or both");
       return at::clamp(a.t(0), a.has(1) ? c10::optional<at::Scalar>(a.n(1)) : c10::nullopt,
                        a.has(2) ? c10::optional<at::Scalar>(a.n(2)) : c10::nullopt);
     }},

    // ---- comparison and selection ----
    BINARY("eq", at::eq),
    BINARY("ne", at::ne),
    BINARY("lt", at::lt),
    BINARY("le", at::le),
    BINARY("gt", at::gt),
    BINARY("ge", at::ge),
    TENSOR_BINARY("logicalAnd", at::logical_and),
    TENSOR_BINARY("logicalOr", at::logical_or),
    {"where",
     [](const Args& a) -> Result {
       const at::Tensor like = a.isTensor(1) ? a.t(1) : a.isTensor(2) ? a.t(2) : at::empty({0}, a.t(0).options().dtype(at::kFloat));
       return at::where(a.t(0), asTensor(a, 1, like), asTensor(a, 2, like));
     }},
    {"maskedFill", [](const Args& a) -> Result { return a.t(0).masked_fill(a.t(1), a.n(2)); }},
    {"allclose",
     [](const Args& a) -> Result { return at::allclose(a.t(0), a.t(1), a.n(2), a.n(3)); }},
    {"equal", [](const Args& a) -> Result { return at::equal(a.t(0), a.t(1)); }},

    // ---- reductions ----
    {"sum",
     [](const Args& a) -> Result { return at::sum(a.t(0), dimsOrAll(a, 1), a.b(2), optDtype(a, 3)); }},
    {"mean",
     [](const Args& a) -> Result { return at::mean(a.t(0), dimsOrAll(a, 1), a.b(2), optDtype(a, 3)); }},
    REDUCE("amax", at::amax),
    REDUCE("amin", at::amin),
    {"max",
     [](const Args& a) -> Result { return a.has(1) ? std::get<0>(at::max(a.t(0), a.i64(1), a.b(2))) : at::amax(a.t(0), allDims(a.t(0)), a.b(2)); }},
    {"min",
     [](const Args& a) -> Result { return a.has(1) ? std::get<0>(at::min(a.t(0), a.i64(1), a.b(2))) : at::amin(a.t(0), allDims(a.t(0)), a.b(2)); }},
    {"argmax", [](const Args& a) -> Result { return at::argmax(a.t(0), a.optInt(1), a.b(2)); }},
    {"argmin", [](const Args& a) -> Result { return at::argmin(a.t(0), a.optInt(1), a.b(2)); }},
    {"prod",
     [](const Args& a) -> Result { return a.has(1) ? at::prod(a.t(0), a.i64(1), a.b(2)) : at::prod(a.t(0)); }},
    {"std",
     [](const Args& a) -> Result { return at::std(a.t(0), c10::OptionalIntArrayRef(dimsOrAll(a, 1)), a.b(2), a.b(3)); }},
    {"var",
     [](const Args& a) -> Result { return at::var(a.t(0), c10::OptionalIntArrayRef(dimsOrAll(a, 1)), a.b(2), a.b(3)); }},
    {"norm",
     [](const Args& a) -> Result { return at::norm(a.t(0), a.n(1), dimsOrAll(a, 2), a.b(3)); }},
    {"logsumexp",
     [](const Args& a) -> Result { return at::logsumexp(a.t(0), a.ints(1), a.b(2)); }},
    {"argsort",
     [](const Args& a) -> Result { return at::argsort(a.t(0), a.i64(1), a.b(2)); }},
    {"sort",
     [](const Args& a) -> Result {
       auto [values, indices] = at::sort(a.t(0), a.i64(1), a.b(2));
       return std::vector<at::Tensor>{values, indices};
     }},
    {"cumsum", [](const Args& a) -> Result { return at::cumsum(a.t(0), a.i64(1)); }},
    {"all", [](const Args& a) -> Result { return at::all(a.t(0)).item<bool>(); }},
    {"any", [](const Args& a) -> Result { return at::any(a.t(0)).item<bool>(); }},

    // ---- shapes ----
    {"reshape", [](const Args& a) -> Result { return a.t(0).reshape(a.ints(1)); }},
    {"permute", [](const Args& a) -> Result { return a.t(0).permute(a.ints(1)); }},
    {"transpose", [](const Args& a) -> Result { return a.t(0).transpose(a.i64(1), a.i64(2)); }},
    {"flatten",
     [](const Args& a) -> Result { return a.t(0).flatten(a.i64(1), a.i64(2)); }},
    {"squeeze",
     [](const Args& a) -> Result { return a.has(1) ? a.t(0).squeeze(a.i64(1)) : a.t(0).squeeze(); }},
    {"unsqueeze", [](const Args& a) -> Result { return a.t(0).unsqueeze(a.i64(1)); }},
    {"expand", [](const Args& a) -> Result { return a.t(0).expand(a.ints(1)); }},
    {"repeat",
     [](const Args& a) -> Result {
       checkRepeat(a.t(0), a.ints(1));
       return a.t(0).repeat(a.ints(1));
     }},
    {"cat", [](const Args& a) -> Result { return at::cat(a.ts(0), a.i64(1)); }},
    {"stack", [](const Args& a) -> Result { return at::stack(a.ts(0), a.i64(1)); }},
    {"chunk", [](const Args& a) -> Result { return a.t(0).chunk(a.i64(1), a.i64(2)); }},
    {"split", [](const Args& a) -> Result { return a.t(0).split(a.i64(1), a.i64(2)); }},
    {"narrow",
     [](const Args& a) -> Result { return a.t(0).narrow(a.i64(1), a.i64(2), a.i64(3)); }},
    {"slice",
     [](const Args& a) -> Result { return a.t(0).slice(a.i64(1), a.optInt(2), a.optInt(3), a.i64(4)); }},
    {"select", [](const Args& a) -> Result { return a.t(0).select(a.i64(1), a.i64(2)); }},
    {"indexSelect", [](const Args& a) -> Result { return a.t(0).index_select(a.i64(1), a.t(2)); }},
    {"gather", [](const Args& a) -> Result { return a.t(0).gather(a.i64(1), a.t(2)); }},
    {"scatter",
     [](const Args& a) -> Result { return a.t(0).scatter(a.i64(1), a.t(2), a.t(3)); }},
    {"flip", [](const Args& a) -> Result { return a.t(0).flip(a.ints(1)); }},
    {"roll",
     [](const Args& a) -> Result { return a.has(2) ? a.t(0).roll(a.ints(1), a.ints(2)) : a.t(0).roll(a.ints(1)); }},
    {"pad",
     [](const Args& a) -> Result {
       checkPad(a.t(0), a.ints(1));
       return F::pad(a.t(0), F::PadFuncOptions(a.ints(1)).mode(padMode(a.s(2))).value(a.n(3)));
     }},

    // ---- linear algebra ----
    {"matmul", [](const Args& a) -> Result { return at::matmul(a.t(0), a.t(1)); }},
    {"bmm", [](const Args& a) -> Result { return at::bmm(a.t(0), a.t(1)); }},
    {"dot", [](const Args& a) -> Result { return at::dot(a.t(0), a.t(1)); }},
    {"einsum", [](const Args& a) -> Result { return at::einsum(a.s(0), a.ts(1)); }},
    {"pinverse", [](const Args& a) -> Result { return at::pinverse(a.t(0), a.n(1)); }},
    {"svd",
     [](const Args& a) -> Result {
       auto [u, s, vh] = at::linalg_svd(a.t(0), a.b(1));
       return std::vector<at::Tensor>{u, s, vh};
     }},
    {"qr",
     [](const Args& a) -> Result {
       auto [q, r] = at::linalg_qr(a.t(0), c10::string_view(a.s(1).data(), a.s(1).size()));
       return std::vector<at::Tensor>{q, r};
     }},
    {"solve", [](const Args& a) -> Result { return at::linalg_solve(a.t(0), a.t(1)); }},

    // ---- FFT and complex ----
    {"fft2",
     [](const Args& a) -> Result { return at::fft_fft2(a.t(0), c10::nullopt, {-2, -1}, fftNorm(a, 1)); }},
    {"ifft2",
     [](const Args& a) -> Result { return at::fft_ifft2(a.t(0), c10::nullopt, {-2, -1}, fftNorm(a, 1)); }},
    {"fftshift", [](const Args& a) -> Result { return at::fft_fftshift(a.t(0), a.ints(1)); }},
    {"ifftshift", [](const Args& a) -> Result { return at::fft_ifftshift(a.t(0), a.ints(1)); }},
    UNARY("real", at::real),
    UNARY("imag", at::imag),
    UNARY("angle", at::angle),
    UNARY("conj", at::conj_physical),
    UNARY("viewAsReal", at::view_as_real),
    UNARY("viewAsComplex", at::view_as_complex),
    {"complex", [](const Args& a) -> Result { return at::complex(a.t(0), a.t(1)); }},

    // ---- network functionals ----
    {"linear", [](const Args& a) -> Result { return at::linear(a.t(0), a.t(1), a.t(2)); }},
    {"conv2d",
     [](const Args& a) -> Result { return at::conv2d(a.t(0), a.t(1), a.t(2), a.ints(3), a.ints(4), a.ints(5), a.i64(6)); }},
    {"convTranspose2d",
     [](const Args& a) -> Result {
       return at::conv_transpose2d(a.t(0), a.t(1), a.t(2), a.ints(3), a.ints(4), a.ints(5), a.i64(6), a.ints(7));
     }},
    {"interpolate",
     [](const Args& a) -> Result {
       if (a.has(1) == a.has(2)) throw std::invalid_argument("interpolate needs exactly one of 'size' and 'scaleFactor'");
       checkInterpolate(a.t(0), a);
       auto o = F::InterpolateFuncOptions().mode(interpolationMode(a.s(3)));
       if (a.has(1)) o = o.size(a.ints(1));
       else o = o.scale_factor(std::vector<double>(a.t(0).dim() - 2, a.n(2)));
       if (a.has(4)) o = o.align_corners(a.b(4));
       return F::interpolate(a.t(0), o);
     }},
    {"avgPool2d",
     [](const Args& a) -> Result { return at::avg_pool2d(a.t(0), a.ints(1), a.has(2) ? a.ints(2) : a.ints(1), a.ints(3)); }},
    {"maxPool2d",
     [](const Args& a) -> Result { return at::max_pool2d(a.t(0), a.ints(1), a.has(2) ? a.ints(2) : a.ints(1), a.ints(3)); }},
    {"adaptiveAvgPool2d",
     [](const Args& a) -> Result { return at::adaptive_avg_pool2d(a.t(0), a.ints(1)); }},
    {"pixelShuffle", [](const Args& a) -> Result { return at::pixel_shuffle(a.t(0), a.i64(1)); }},
    {"pixelUnshuffle", [](const Args& a) -> Result { return at::pixel_unshuffle(a.t(0), a.i64(1)); }},
    {"groupNorm",
     [](const Args& a) -> Result { return at::group_norm(a.t(0), a.i64(1), a.t(2), a.t(3), a.n(4)); }},
    {"layerNorm",
     [](const Args& a) -> Result { return at::layer_norm(a.t(0), a.ints(1), a.t(2), a.t(3), a.n(4)); }},
    {"softmax", [](const Args& a) -> Result { return at::softmax(a.t(0), a.i64(1)); }},
    {"logSoftmax", [](const Args& a) -> Result { return at::log_softmax(a.t(0), a.i64(1)); }},
    {"attention",
     [](const Args& a) -> Result {
       return attention(a.t(0), a.t(1), a.t(2), a.t(3), a.has(4) ? c10::optional<double>(a.n(4)) : c10::nullopt);
     }},
    {"neighborhoodAttention",
     [](const Args& a) -> Result {
       return nn::neighborhoodAttention(a.t(0), {a.t(1)}, {a.t(2)}, a.i64(3), a.has(4) ? c10::optional<double>(a.n(4)) : c10::nullopt);
     }},
    {"jointNeighborhoodAttention",
     [](const Args& a) -> Result {
       return nn::neighborhoodAttention(a.t(0), {a.t(1), a.t(3)}, {a.t(2), a.t(4)}, a.i64(5), a.has(6) ? c10::optional<double>(a.n(6)) : c10::nullopt);
     }},
    {"dropout",
     [](const Args& a) -> Result {
       if (!(a.n(1) >= 0 && a.n(1) <= 1)) throw std::invalid_argument("argument 'p' expected a probability in [0, 1]");
       return at::dropout(a.t(0), a.n(1), a.b(2));
     }},
    {"mseLoss",
     [](const Args& a) -> Result { return at::mse_loss(a.t(0), a.t(1), reduction(a.s(2))); }},
    {"l1Loss",
     [](const Args& a) -> Result { return at::l1_loss(a.t(0), a.t(1), reduction(a.s(2))); }},
};

}  // namespace

const std::vector<OpImpl>& tensorOps() { return rows; }

}  // namespace invdiff::binding
