#include "core/nn/neighborhood_attention.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include "core/nn/neighborhood_attention_kernel.h"
#if INVDIFF_CUDA_KERNELS
#include "core/cuda/neighborhood_attention.h"
#endif

namespace invdiff::nn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using na::Shape;

Shape shapeOf(const at::Tensor& q, int64_t kernel, int64_t sets) {
  return {q.size(0) * q.size(1), q.size(2), q.size(3), q.size(4), kernel, sets};
}

template <class T>
std::vector<const T*> pointers(at::TensorList list) {
  std::vector<const T*> out;
  for (const at::Tensor& t : list) out.push_back(t.data_ptr<T>());
  return out;
}

// Work per task: one row of tokens (queries or keys) of one plane; each token writes only its own outputs.
template <class F>
void forEachToken(const Shape& g, F f) {
  at::parallel_for(0, g.planes * g.height, 1, [&](int64_t begin, int64_t end) {
    for (int64_t token = begin * g.width; token < end * g.width; ++token) f(token);
  });
}

template <class T>
void attendForward(const Shape& g, const T* q, const std::vector<const T*>& k, const std::vector<const T*>& v, T scale, T* out, T* weights) {
  forEachToken(g, [&](int64_t query) { na::forwardQuery(g, q, k, v, scale, out, weights, query); });
}

template <class T>
void attendBackward(const Shape& g, const T* q, const std::vector<const T*>& k, const std::vector<const T*>& v, const T* dOut, const T* weights,
                    T scale, T* dScores, T* dq, const std::vector<T*>& dk, const std::vector<T*>& dv) {
  forEachToken(g, [&](int64_t query) { na::backwardQuery(g, k, v, dOut, weights, scale, dScores, dq, query); });
  forEachToken(g, [&](int64_t key) {
    for (int64_t set = 0; set < g.sets; ++set) na::backwardKey(g, q, dOut, weights, dScores, scale, set, dk[set], dv[set], key);
  });
}

// CUDA tensors reach the Function only where this build compiled the kernels (core/cuda/neighborhood_attention.cu,
// the same per-token arithmetic); elsewhere neighborhoodAttention sends them to the gather form.
#if INVDIFF_CUDA_KERNELS
constexpr bool kDeviceKernels = true;
#else
constexpr bool kDeviceKernels = false;
#endif

// A custom backward rather than a gather of the windowed keys into LibTorch ops: autograd would then keep
// the gathered (B, heads, H, W, sets·κ², d) keys and values, κ²·d times the weights kept here.
struct NeighborhoodAttentionFunction : torch::autograd::Function<NeighborhoodAttentionFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& query, at::TensorList keys, at::TensorList values, int64_t kernel,
                               double scale) {
    const Shape g = shapeOf(query, kernel, static_cast<int64_t>(keys.size()));
    at::Tensor out = at::empty_like(query);
    at::Tensor weights = at::empty({g.tokens(), g.window()}, query.options());
#if INVDIFF_CUDA_KERNELS
    if (query.is_cuda())
      cuda::neighborhoodAttentionForward(g, query, keys, values, scale, out, weights);
    else
#endif
      AT_DISPATCH_FLOATING_TYPES(query.scalar_type(), "neighborhoodAttention", [&] {
        attendForward<scalar_t>(g, query.data_ptr<scalar_t>(), pointers<scalar_t>(keys), pointers<scalar_t>(values), static_cast<scalar_t>(scale),
                                out.data_ptr<scalar_t>(), weights.data_ptr<scalar_t>());
      });
    variable_list saved{query};
    saved.insert(saved.end(), keys.begin(), keys.end());
    saved.insert(saved.end(), values.begin(), values.end());
    saved.push_back(weights);
    ctx->save_for_backward(saved);
    ctx->saved_data["kernel"] = kernel;
    ctx->saved_data["scale"] = scale;
    return {out};
  }

  // Gradients in the order of forward's inputs: query, each key, each value, then none for kernel and scale.
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const size_t sets = (saved.size() - 2) / 2;
    const at::Tensor& query = saved[0];
    const at::Tensor& weights = saved.back();
    const at::TensorList keys(saved.data() + 1, sets), values(saved.data() + 1 + sets, sets);
    const Shape g = shapeOf(query, ctx->saved_data["kernel"].toInt(), static_cast<int64_t>(sets));
    const double scale = ctx->saved_data["scale"].toDouble();
    const at::Tensor dOut = grads[0].contiguous();
    at::Tensor dq = at::empty_like(query), dScores = at::empty_like(weights);
    std::vector<at::Tensor> dk, dv;
    for (size_t s = 0; s < sets; ++s) {
      dk.push_back(at::empty_like(query));
      dv.push_back(at::empty_like(query));
    }
#if INVDIFF_CUDA_KERNELS
    if (query.is_cuda())
      cuda::neighborhoodAttentionBackward(g, query, keys, values, dOut, weights, scale, dScores, dq, dk, dv);
    else
#endif
      AT_DISPATCH_FLOATING_TYPES(query.scalar_type(), "neighborhoodAttentionBackward", [&] {
        std::vector<scalar_t*> gk, gv;
        for (size_t i = 0; i < sets; ++i) {
          gk.push_back(dk[i].data_ptr<scalar_t>());
          gv.push_back(dv[i].data_ptr<scalar_t>());
        }
        attendBackward<scalar_t>(g, query.data_ptr<scalar_t>(), pointers<scalar_t>(keys), pointers<scalar_t>(values), dOut.data_ptr<scalar_t>(),
                                 weights.data_ptr<scalar_t>(), static_cast<scalar_t>(scale), dScores.data_ptr<scalar_t>(), dq.data_ptr<scalar_t>(), gk, gv);
      });
    variable_list out{dq};
    out.insert(out.end(), dk.begin(), dk.end());
    out.insert(out.end(), dv.begin(), dv.end());
    out.resize(out.size() + 2);  // kernel, scale
    return out;
  }
};

std::string setName(const char* base, size_t set) { return set == 0 ? base : base + std::to_string(set + 1); }

void checkArguments(const at::Tensor& query, at::TensorList keys, at::TensorList values, int64_t kernel, c10::optional<double> scale) {
  if (!query.defined() || query.dim() != 5)
    throw std::invalid_argument("argument 'query' must be a (batch, heads, height, width, headDim) tensor, got shape " +
                                (query.defined() ? c10::str(query.sizes()) : std::string("undefined")));
  if (query.scalar_type() != at::kFloat && query.scalar_type() != at::kDouble)
    throw std::invalid_argument("argument 'query' must be float32 or float64 for neighbourhood attention");
  if (keys.empty() || keys.size() != values.size()) throw std::invalid_argument("neighbourhood attention needs one value set per key set");
  for (size_t s = 0; s < keys.size(); ++s)
    for (const auto& [t, base] : {std::make_pair(keys[s], "key"), std::make_pair(values[s], "value")}) {
      const std::string name = setName(base, s);
      if (!t.defined() || t.sizes() != query.sizes())
        throw std::invalid_argument("argument '" + name + "' has shape " + (t.defined() ? c10::str(t.sizes()) : std::string("undefined")) +
                                    " but 'query' has " + c10::str(query.sizes()) + "; keys and values share the query's (batch, heads, height, width, headDim)");
      if (t.scalar_type() != query.scalar_type()) throw std::invalid_argument("argument '" + name + "' must have the dtype of 'query'");
      if (t.device() != query.device()) throw std::invalid_argument("argument '" + name + "' must be on the device of 'query'");
    }
  if (kernel < 1 || kernel % 2 == 0)
    throw std::invalid_argument("argument 'kernelSize' must be a positive odd integer (NATTEN centres each window on its query), got " +
                                std::to_string(kernel));
  for (const auto& [length, side] : {std::make_pair(query.size(2), "height"), std::make_pair(query.size(3), "width")})
    if (length < kernel)
      throw std::invalid_argument("argument 'kernelSize' " + std::to_string(kernel) + " exceeds the " + side + " " + std::to_string(length) +
                                  " of 'query': every query attends over exactly κ×κ keys and nothing is padded, so both sides must be at least κ");
  if (scale && !std::isfinite(*scale)) throw std::invalid_argument("argument 'scale' must be a finite number");
}

// Key index (r·W + c) of each query's window slots, (H·W, κ²) in the CPU kernel's slot order.
at::Tensor windowIndex(int64_t height, int64_t width, int64_t kernel) {
  at::Tensor index = at::empty({height * width, kernel * kernel}, at::kLong);
  auto* out = index.data_ptr<int64_t>();
  for (int64_t i = 0; i < height; ++i)
    for (int64_t j = 0; j < width; ++j)
      for (int64_t a = 0; a < kernel; ++a)
        for (int64_t b = 0; b < kernel; ++b) *out++ = (na::windowStart(i, height, kernel) + a) * width + na::windowStart(j, width, kernel) + b;
  return index;
}

at::Tensor byGather(const at::Tensor& query, at::TensorList keys, at::TensorList values, int64_t kernel, double scale) {
  const int64_t planes = query.size(0) * query.size(1), tokens = query.size(2) * query.size(3), dim = query.size(4), window = kernel * kernel;
  const at::Tensor index = windowIndex(query.size(2), query.size(3), kernel).to(query.device()).reshape({-1});
  const auto gather = [&](const at::Tensor& t) { return t.reshape({planes, tokens, dim}).index_select(1, index).view({planes, tokens, window, dim}); };
  const at::Tensor q = query.reshape({planes, tokens, 1, dim});
  std::vector<at::Tensor> logits, gathered;
  for (size_t s = 0; s < keys.size(); ++s) {
    logits.push_back(at::matmul(q, gather(keys[s]).transpose(2, 3)).squeeze(2) * scale);
    gathered.push_back(gather(values[s]));
  }
  const at::Tensor weights = at::softmax(at::cat(logits, -1), -1);  // one softmax over every set's slots
  at::Tensor out;
  for (size_t s = 0; s < keys.size(); ++s) {
    const at::Tensor w = weights.narrow(-1, static_cast<int64_t>(s) * window, window).unsqueeze(2);
    const at::Tensor part = at::matmul(w, gathered[s]).squeeze(2);
    out = out.defined() ? out + part : part;
  }
  return out.view(query.sizes());
}

}  // namespace

at::Tensor neighborhoodAttentionByGather(const at::Tensor& query, at::TensorList keys, at::TensorList values, int64_t kernelSize,
                                         c10::optional<double> scale) {
  checkArguments(query, keys, values, kernelSize, scale);
  return byGather(query, keys, values, kernelSize, scale ? *scale : 1.0 / std::sqrt(static_cast<double>(query.size(4))));
}

at::Tensor neighborhoodAttention(const at::Tensor& query, at::TensorList keys, at::TensorList values, int64_t kernelSize, c10::optional<double> scale) {
  if (query.defined() && !query.device().is_cpu() && !(kDeviceKernels && query.is_cuda() && keys.size() <= na::kMaxDeviceSets))
    return neighborhoodAttentionByGather(query, keys, values, kernelSize, scale);
  checkArguments(query, keys, values, kernelSize, scale);
  std::vector<at::Tensor> k, v;
  for (const at::Tensor& t : keys) k.push_back(t.contiguous());
  for (const at::Tensor& t : values) v.push_back(t.contiguous());
  const double s = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(query.size(4)));
  return NeighborhoodAttentionFunction::apply(query.contiguous(), at::TensorList(k), at::TensorList(v), kernelSize, s)[0];
}

}  // namespace invdiff::nn
