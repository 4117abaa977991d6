#include "core/nn/neighborhood_attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

namespace invdiff::nn {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// One axis of NATTEN's window rule (no dilation): query i's window starts at clamp(i − κ//2, 0, L − κ).
// The starts never decrease and step by at most one, so the queries whose windows hold key r form one
// range [first[r], end[r]): the backward pass walks it to sum each key's gradient without write races.
struct Axis {
  std::vector<int64_t> start, first, end;
  Axis(int64_t length, int64_t kernel) : start(length), first(length, length), end(length, 0) {
    for (int64_t i = 0; i < length; ++i) {
      start[i] = std::clamp(i - kernel / 2, int64_t(0), length - kernel);
      for (int64_t r = start[i]; r < start[i] + kernel; ++r) {
        first[r] = std::min(first[r], i);
        end[r] = i + 1;
      }
    }
  }
};

// Tensors are contiguous (planes = batch·heads, H, W, d); the attention weights are (planes·H·W, sets·κ²),
// slot (set·κ + a)·κ + b holding the key at window offset (a, b) of that set.
struct Geometry {
  int64_t planes, height, width, dim, kernel, sets;
  Axis rows, cols;
  Geometry(const at::Tensor& q, int64_t kernel, int64_t sets)
      : planes(q.size(0) * q.size(1)), height(q.size(2)), width(q.size(3)), dim(q.size(4)), kernel(kernel), sets(sets),
        rows(height, kernel), cols(width, kernel) {}
  int64_t window() const { return sets * kernel * kernel; }

  // f(slot, set, key) for every key of query (i, j) in `plane`, in slot order.
  template <class F>
  void forEachKey(int64_t plane, int64_t i, int64_t j, F f) const {
    int64_t slot = 0;
    for (int64_t set = 0; set < sets; ++set)
      for (int64_t r = rows.start[i]; r < rows.start[i] + kernel; ++r)
        for (int64_t c = cols.start[j]; c < cols.start[j] + kernel; ++c) f(slot++, set, (plane * height + r) * width + c);
  }
};

// Eight partial sums let the compiler fill SIMD lanes: it may not reorder a single running sum without
// -ffast-math.
template <class T>
T dot(const T* a, const T* b, int64_t n) {
  T lane[8] = {};
  int64_t t = 0;
  for (; t + 8 <= n; t += 8)
    for (int u = 0; u < 8; ++u) lane[u] += a[t + u] * b[t + u];
  T sum = 0;
  for (; t < n; ++t) sum += a[t] * b[t];
  for (int u = 0; u < 8; ++u) sum += lane[u];
  return sum;
}

template <class T>
void axpy(T* y, T alpha, const T* x, int64_t n) {
  for (int64_t t = 0; t < n; ++t) y[t] += alpha * x[t];
}

template <class T>
std::vector<const T*> pointers(at::TensorList list) {
  std::vector<const T*> out;
  for (const at::Tensor& t : list) out.push_back(t.data_ptr<T>());
  return out;
}

// Work per task: one row of queries (or keys) of one plane; rows are independent, so threads never share
// an output element.
template <class F>
void forEachRow(const Geometry& g, F f) {
  at::parallel_for(0, g.planes * g.height, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) f(row / g.height, row % g.height);
  });
}

// out = Σ_slots P·v with P = softmax over every slot of the window (all key sets in one softmax, §2.4).
template <class T>
void attendForward(const Geometry& g, const T* q, const std::vector<const T*>& k, const std::vector<const T*>& v, T scale, T* out,
                   T* weights) {
  const int64_t d = g.dim, n = g.window();
  forEachRow(g, [&](int64_t plane, int64_t i) {
    for (int64_t j = 0; j < g.width; ++j) {
      const int64_t query = (plane * g.height + i) * g.width + j;
      const T* qv = q + query * d;
      T* p = weights + query * n;
      T largest = -std::numeric_limits<T>::infinity();
      g.forEachKey(plane, i, j, [&](int64_t slot, int64_t set, int64_t key) {
        p[slot] = scale * dot(qv, k[set] + key * d, d);
        largest = std::max(largest, p[slot]);
      });
      T total = 0;
      for (int64_t s = 0; s < n; ++s) total += p[s] = std::exp(p[s] - largest);
      for (int64_t s = 0; s < n; ++s) p[s] /= total;
      T* o = out + query * d;
      std::fill(o, o + d, T(0));
      g.forEachKey(plane, i, j, [&](int64_t slot, int64_t set, int64_t key) { axpy(o, p[slot], v[set] + key * d, d); });
    }
  });
}

// Per query: dP = dO·vᵀ, dS = P ⊙ (dP − Σ P ⊙ dP) (the softmax's Jacobian), dq = scale·Σ dS·k.
template <class T>
void backwardQueries(const Geometry& g, const std::vector<const T*>& k, const std::vector<const T*>& v, const T* dOut, const T* weights,
                     T scale, T* dScores, T* dq) {
  const int64_t d = g.dim, n = g.window();
  forEachRow(g, [&](int64_t plane, int64_t i) {
    for (int64_t j = 0; j < g.width; ++j) {
      const int64_t query = (plane * g.height + i) * g.width + j;
      const T* p = weights + query * n;
      const T* go = dOut + query * d;
      T* ds = dScores + query * n;
      T mean = 0;
      g.forEachKey(plane, i, j, [&](int64_t slot, int64_t set, int64_t key) {
        ds[slot] = dot(go, v[set] + key * d, d);
        mean += p[slot] * ds[slot];
      });
      for (int64_t s = 0; s < n; ++s) ds[s] = p[s] * (ds[s] - mean);
      T* gq = dq + query * d;
      std::fill(gq, gq + d, T(0));
      g.forEachKey(plane, i, j, [&](int64_t slot, int64_t set, int64_t key) { axpy(gq, scale * ds[slot], k[set] + key * d, d); });
    }
  });
}

// Per key, over the queries whose windows hold it: dk = scale·Σ dS·q and dv = Σ P·dO.
template <class T>
void backwardKeys(const Geometry& g, const T* q, const T* dOut, const T* weights, const T* dScores, T scale, const std::vector<T*>& dk,
                  const std::vector<T*>& dv) {
  const int64_t d = g.dim, n = g.window(), kk = g.kernel;
  forEachRow(g, [&](int64_t plane, int64_t r) {
    for (int64_t c = 0; c < g.width; ++c) {
      const int64_t key = (plane * g.height + r) * g.width + c;
      for (int64_t set = 0; set < g.sets; ++set) {
        T* gk = dk[set] + key * d;
        T* gv = dv[set] + key * d;
        std::fill(gk, gk + d, T(0));
        std::fill(gv, gv + d, T(0));
        for (int64_t i = g.rows.first[r]; i < g.rows.end[r]; ++i)
          for (int64_t j = g.cols.first[c]; j < g.cols.end[c]; ++j) {
            const int64_t query = (plane * g.height + i) * g.width + j;
            const int64_t slot = query * n + (set * kk + r - g.rows.start[i]) * kk + c - g.cols.start[j];
            axpy(gk, scale * dScores[slot], q + query * d, d);
            axpy(gv, weights[slot], dOut + query * d, d);
          }
      }
    }
  });
}

// A custom backward rather than a gather of the windowed keys into LibTorch ops: autograd would then keep
// the gathered (B, heads, H, W, sets·κ², d) keys and values, κ²·d times the weights kept here.
struct NeighborhoodAttentionFunction : torch::autograd::Function<NeighborhoodAttentionFunction> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& query, at::TensorList keys, at::TensorList values, int64_t kernel,
                               double scale) {
    const Geometry g(query, kernel, static_cast<int64_t>(keys.size()));
    at::Tensor out = at::empty_like(query);
    at::Tensor weights = at::empty({g.planes * g.height * g.width, g.window()}, query.options());
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
    const Geometry g(query, ctx->saved_data["kernel"].toInt(), static_cast<int64_t>(sets));
    const double scale = ctx->saved_data["scale"].toDouble();
    const at::Tensor dOut = grads[0].contiguous();
    at::Tensor dq = at::empty_like(query), dScores = at::empty_like(weights);
    variable_list dk, dv;
    for (size_t s = 0; s < sets; ++s) {
      dk.push_back(at::empty_like(query));
      dv.push_back(at::empty_like(query));
    }
    AT_DISPATCH_FLOATING_TYPES(query.scalar_type(), "neighborhoodAttentionBackward", [&] {
      const auto k = pointers<scalar_t>(keys), v = pointers<scalar_t>(values);
      const scalar_t s = static_cast<scalar_t>(scale);
      backwardQueries<scalar_t>(g, k, v, dOut.data_ptr<scalar_t>(), weights.data_ptr<scalar_t>(), s, dScores.data_ptr<scalar_t>(),
                                dq.data_ptr<scalar_t>());
      std::vector<scalar_t*> gk, gv;
      for (size_t i = 0; i < sets; ++i) {
        gk.push_back(dk[i].data_ptr<scalar_t>());
        gv.push_back(dv[i].data_ptr<scalar_t>());
      }
      backwardKeys<scalar_t>(g, query.data_ptr<scalar_t>(), dOut.data_ptr<scalar_t>(), weights.data_ptr<scalar_t>(), dScores.data_ptr<scalar_t>(),
                             s, gk, gv);
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
  const Axis rows(height, kernel), cols(width, kernel);
  at::Tensor index = at::empty({height * width, kernel * kernel}, at::kLong);
  auto* out = index.data_ptr<int64_t>();
  for (int64_t i = 0; i < height; ++i)
    for (int64_t j = 0; j < width; ++j)
      for (int64_t a = 0; a < kernel; ++a)
        for (int64_t b = 0; b < kernel; ++b) *out++ = (rows.start[i] + a) * width + cols.start[j] + b;
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
  if (query.defined() && !query.device().is_cpu()) return neighborhoodAttentionByGather(query, keys, values, kernelSize, scale);
  checkArguments(query, keys, values, kernelSize, scale);
  std::vector<at::Tensor> k, v;
  for (const at::Tensor& t : keys) k.push_back(t.contiguous());
  for (const at::Tensor& t : values) v.push_back(t.contiguous());
  const double s = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(query.size(4)));
  return NeighborhoodAttentionFunction::apply(query.contiguous(), at::TensorList(k), at::TensorList(v), kernelSize, s)[0];
}

}  // namespace invdiff::nn
