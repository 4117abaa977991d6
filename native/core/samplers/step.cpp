#include "core/samplers/step.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include "core/samplers/counter_normal.h"

namespace invdiff::samplers {
namespace {

// The least work worth a part of its own: handing a part to another thread costs tens of µs, as much as
// drawing 10k normals, and a plain combination is memory-bound, so only big tensors split.
constexpr int64_t kNoiseGrain = 1 << 15;
constexpr int64_t kPlainGrain = 1 << 16;
constexpr int64_t kBlock = 2048;  // elements per inner block, so each term's pass stays in L1

// Runs f over [0, n) in up to at::get_num_threads() parts of at least `grain` elements: parts after the first
// on LibTorch's inter-op pool, the first on this thread. (at::parallel_for would need this file compiled
// with the same OpenMP as LibTorch, which a prebuilt LibTorch cannot promise.)
template <class F>
void parallelRange(int64_t n, int64_t grain, const F& f) {
  const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), n / grain));
  if (parts == 1) return f(0, n);
  const int64_t size = (n + parts - 1) / parts;
  std::atomic<int64_t> pending{parts - 1};
  for (int64_t p = 1; p < parts; ++p) {
    at::launch([&, p] {
      f(p * size, std::min(n, (p + 1) * size));
      pending.fetch_sub(1, std::memory_order_release);
    });
  }
  f(0, size);
  while (pending.load(std::memory_order_acquire) > 0) std::this_thread::yield();
}

// out = noise·z + Σ c[k]·in[k] over n elements, block by block.
template <class T>
void combineInto(T* out, const std::vector<const T*>& in, const std::vector<double>& c, double noise, uint64_t seed, int64_t n) {
  const CounterNormal normal(seed);
  const bool noisy = noise != 0;
  parallelRange(n, noisy ? kNoiseGrain : kPlainGrain, [&](int64_t begin, int64_t end) {
    for (int64_t s = begin; s < end; s += kBlock) {
      const int64_t e = std::min(end, s + kBlock);
      size_t k = 0;
      if (noisy) {
        normal.fill(out + s, static_cast<uint64_t>(s), e - s, noise);
      } else {
        const T c0 = static_cast<T>(c[0]);
        const T* p = in[0];
        for (int64_t i = s; i < e; ++i) out[i] = c0 * p[i];
        k = 1;
      }
      for (; k < in.size(); ++k) {
        const T ck = static_cast<T>(c[k]);
        const T* p = in[k];
        for (int64_t i = s; i < e; ++i) out[i] += ck * p[i];
      }
    }
  });
}

template <class T>
at::Tensor combineFused(const std::vector<at::Tensor>& tensors, const std::vector<double>& coefficients, double noise, uint64_t seed) {
  at::Tensor out = at::empty_like(tensors[0], at::MemoryFormat::Contiguous);
  std::vector<const T*> in;
  in.reserve(tensors.size());
  for (const auto& t : tensors) in.push_back(t.data_ptr<T>());
  combineInto<T>(out.data_ptr<T>(), in, coefficients, noise, seed, out.numel());
  return out;
}

// One pass applies when every tensor is a contiguous float32 or float64 CPU tensor of the first one's
// shape and dtype, and no gradient has to flow.
bool fusable(const std::vector<at::Tensor>& tensors) {
  const at::Tensor& first = tensors[0];
  if (first.scalar_type() != at::kFloat && first.scalar_type() != at::kDouble) return false;
  const bool grad = at::GradMode::is_enabled();
  for (const auto& t : tensors) {
    if (!t.device().is_cpu() || t.scalar_type() != first.scalar_type() || !t.sizes().equals(first.sizes()) || !t.is_contiguous() ||
        (grad && t.requires_grad()))
      return false;
  }
  return true;
}

}  // namespace

at::Tensor gaussianNoise(at::IntArrayRef shape, uint64_t seed, double std, const at::TensorOptions& options) {
  const at::ScalarType type = options.dtype().toScalarType();
  if (!at::isFloatingType(type)) throw std::invalid_argument("argument 'dtype' expected a floating-point dtype for Gaussian noise");
  if (!std::isfinite(std)) throw std::invalid_argument("argument 'std' expected a finite number");
  const bool dbl = type == at::kDouble;
  at::Tensor out = at::empty(shape, at::TensorOptions().dtype(dbl ? at::kDouble : at::kFloat));
  if (std == 0) {
    out.zero_();
  } else if (out.numel() > 0) {
    if (dbl) combineInto<double>(out.data_ptr<double>(), {}, {}, std, seed, out.numel());
    else combineInto<float>(out.data_ptr<float>(), {}, {}, std, seed, out.numel());
  }
  return out.to(options.device(), type);
}

at::Tensor combine(const std::vector<at::Tensor>& tensors, const std::vector<double>& coefficients, double noise, uint64_t seed) {
  if (tensors.empty()) throw std::invalid_argument("argument 'tensors' expected at least one tensor");
  if (coefficients.size() != tensors.size())
    throw std::invalid_argument("argument 'coefficients' expected one number per tensor (" + std::to_string(tensors.size()) + "), got " +
                                std::to_string(coefficients.size()));
  if (!std::isfinite(noise)) throw std::invalid_argument("argument 'noise' expected a finite number");
  if (fusable(tensors)) {
    if (tensors[0].numel() == 0) return at::empty_like(tensors[0]);
    return tensors[0].scalar_type() == at::kDouble ? combineFused<double>(tensors, coefficients, noise, seed)
                                                   : combineFused<float>(tensors, coefficients, noise, seed);
  }
  at::Tensor out = at::mul(tensors[0], coefficients[0]);
  for (size_t k = 1; k < tensors.size(); ++k) out = at::add(out, tensors[k], coefficients[k]);
  if (noise != 0) {
    const at::ScalarType real = out.is_complex() ? c10::toRealValueType(out.scalar_type()) : out.scalar_type();
    out = out + gaussianNoise(out.sizes(), seed, noise, out.options().dtype(real));
  }
  return out;
}

at::Tensor langevin(const operators::Operator& op, const at::Tensor& x, const at::Tensor& center, const at::Tensor& y, double lr,
                    double priorStd, double dataStd, int64_t steps, uint64_t seed) {
  if (!(lr > 0) || !std::isfinite(lr)) throw std::invalid_argument("argument 'lr' expected a positive number");
  if (!(priorStd > 0)) throw std::invalid_argument("argument 'priorStd' expected a positive number");
  if (!(dataStd > 0)) throw std::invalid_argument("argument 'dataStd' expected a positive number");
  if (steps < 0) throw std::invalid_argument("argument 'steps' expected a non-negative integer");
  if (!center.sizes().equals(x.sizes()))
    throw std::invalid_argument("argument 'center' expected the shape of x " + c10::str(x.sizes()) + ", got " + c10::str(center.sizes()));
  at::NoGradGuard noGrad;
  // The rate capped at the inverse curvature ‖A‖²/τ² + 1/σ², where explicit Langevin steps stay stable.
  lr = std::min(lr, 1 / (op.gainSquared() / (dataStd * dataStd) + 1 / (priorStd * priorStd)));
  // x − lr·(Aᵀ(A x − y)/τ² + (x − c)/σ²) + √(2 lr)·z as one combination of x, c and Aᵀ(A x − y).
  const double toCenter = lr / (priorStd * priorStd);
  const std::vector<double> weights = {1 - toCenter, toCenter, -lr / (dataStd * dataStd)};
  at::Tensor current = x;
  for (int64_t k = 0; k < steps; ++k) {
    at::Tensor residual = op.forward(current);
    if (!residual.sizes().equals(y.sizes()))
      throw std::invalid_argument("argument 'y' expected the measurement shape " + c10::str(residual.sizes()) + ", got " + c10::str(y.sizes()));
    current = combine({current, center, op.adjoint(residual - y)}, weights, std::sqrt(2 * lr), seed + static_cast<uint64_t>(k));
  }
  return current;
}

}  // namespace invdiff::samplers
