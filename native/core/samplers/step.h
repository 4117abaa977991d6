// The arithmetic of a sampler step, fused: a linear combination of tensors plus seeded Gaussian noise in
// one pass over memory, and the Langevin chain of DAPS with the operator applied natively. Samplers in TS
// call these once per step instead of a dozen small ops, each a trip through the binding and an allocation.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "core/operators/operator.h"

namespace invdiff::samplers {

// std · z with z ~ N(0, I) from the counter-based generator keyed by seed: the same numbers for any
// dtype's rounding, device or thread count (drawn on the CPU, then moved).
at::Tensor gaussianNoise(at::IntArrayRef shape, uint64_t seed, double std, const at::TensorOptions& options);

// Σ coefficients[k]·tensors[k] + noise·z (z as gaussianNoise keyed by seed). Float CPU tensors of one
// shape take a fused single pass; anything else (broadcasting, other dtypes or devices, autograd) is
// computed with LibTorch ops, with the same noise.
at::Tensor combine(const std::vector<at::Tensor>& tensors, const std::vector<double>& coefficients, double noise, uint64_t seed);

// `steps` Langevin steps on exp(−‖A x − y‖²/(2 dataStd²) − ‖x − center‖²/(2 priorStd²)) from x with rate
// lr: x ← x − lr·∇(−log p) + √(2 lr)·z, the noise of step k keyed by seed + k.
at::Tensor langevin(const operators::Operator& op, const at::Tensor& x, const at::Tensor& center, const at::Tensor& y, double lr,
                    double priorStd, double dataStd, int64_t steps, uint64_t seed);

}  // namespace invdiff::samplers
