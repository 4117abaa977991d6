// Memory-saving autograd: reversible coupling sequences (activations rebuilt from the outputs in backward)
// and gradient checkpointing (activations recomputed from the saved inputs), the two levels IDM uses.
//
// Both take their parameters and side inputs as explicit inputs of one autograd Function and return their
// gradients explicitly, so torch::autograd::grad works through them and they nest: a body may itself run
// reversible sequences or checkpoints, whose backward then runs inside the outer backward's recomputation.
#pragma once
#include <functional>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

namespace invdiff {

// A coupling body: C→C in x, reading side inputs (skips) it must not modify.
using CouplingBody = std::function<at::Tensor(const at::Tensor& x, const std::vector<at::Tensor>& sides)>;

struct Coupling {
  CouplingBody body;
  at::Tensor vLogit;  // the learnable weight, through couplingWeight
};

// v = ε + (1 − ε)·sigmoid(logit): kept in (ε, 1) so the inverse's division by v stays stable.
constexpr double kCouplingFloor = 0.05;
at::Tensor couplingWeight(const at::Tensor& vLogit);
// The logit that gives weight v (0.5 at initialisation).
double couplingLogit(double v);

struct SequenceOptions {
  bool reversible = true;  // false: ordinary autograd with stored activations (the reference)
  bool preserveRng = false;  // recomputation sees each body's forward RNG state (dropout)
  // The last keepLast layers keep the graph their body builds in forward, so backward differentiates it
  // instead of running the body again: faster by those bodies' forward, at the memory their graphs hold (for
  // a body that is itself reversible inside, the tensors between its sequences and checkpoints).
  size_t keepLast = 0;
};

// (x₁, x₂) → ((1 − v)·body(x₁) + v·x₂, x₁) layer after layer. `params` lists every tensor the bodies read
// that may need a gradient (body parameters and the couplings' vLogit).
std::pair<at::Tensor, at::Tensor> runCouplings(const std::vector<Coupling>& layers, const at::Tensor& x1, const at::Tensor& x2,
                                               const std::vector<at::Tensor>& sides, const std::vector<at::Tensor>& params,
                                               SequenceOptions options);
// The exact inverse of runCouplings (no gradients): the input pair from the output pair.
std::pair<at::Tensor, at::Tensor> invertCouplings(const std::vector<Coupling>& layers, const at::Tensor& y1, const at::Tensor& y2,
                                                  const std::vector<at::Tensor>& sides);

using CheckpointBody = std::function<at::Tensor(const std::vector<at::Tensor>& inputs)>;
// fn(inputs), keeping only the inputs and recomputing fn in backward. enabled = false runs fn directly.
at::Tensor checkpoint(const CheckpointBody& fn, const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& params,
                      bool enabled, bool preserveRng = false);

}  // namespace invdiff
