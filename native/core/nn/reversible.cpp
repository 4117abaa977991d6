#include "core/nn/reversible.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <stdexcept>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

namespace invdiff {

at::Tensor couplingWeight(const at::Tensor& vLogit) { return kCouplingFloor + (1 - kCouplingFloor) * at::sigmoid(vLogit); }

double couplingLogit(double v) {
  if (!(v > kCouplingFloor && v < 1)) throw std::invalid_argument("a coupling weight must lie in (" + std::to_string(kCouplingFloor) + ", 1)");
  const double s = (v - kCouplingFloor) / (1 - kCouplingFloor);
  return std::log(s / (1 - s));
}

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The CPU generator's state, so a recomputed body draws the same dropout masks as its forward did.
at::Tensor captureRng() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state();
}
void restoreRng(const at::Tensor& state) {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_state(state);
}

// Restores the generator on scope exit, so a backward that replays saved states leaves the caller's stream as it was.
struct RngRestorer {
  explicit RngRestorer(bool on) : state(on ? captureRng() : at::Tensor()) {}
  ~RngRestorer() {
    if (state.defined()) restoreRng(state);
  }
  at::Tensor state;
};

// The tensors a backward differentiates with respect to: those flagged at forward time.
struct Differentiable {
  std::vector<at::Tensor> tensors;
  std::vector<size_t> slots;  // index into the Function's input list

  void add(const at::Tensor& t, size_t slot) {
    tensors.push_back(t);
    slots.push_back(slot);
  }
  // grads from torch::autograd::grad, added into the per-input accumulators.
  void accumulate(const variable_list& grads, size_t offset, variable_list& into) const {
    for (size_t i = 0; i < slots.size(); ++i) {
      const at::Tensor& g = grads[offset + i];
      if (!g.defined()) continue;
      at::Tensor& sum = into[slots[i]];
      sum = sum.defined() ? sum + g : g;
    }
  }
};

at::Tensor orZeros(const at::Tensor& g, const at::Tensor& like) { return g.defined() ? g : at::zeros_like(like); }

// Held by the autograd graph: what backward needs besides the saved tensors.
struct SequenceState : torch::CustomClassHolder {
  std::vector<Coupling> layers;
  std::vector<at::Tensor> params;
  std::vector<bool> needsGrad;  // per Function input: x1, x2, sides..., params...
  size_t sides = 0;
  bool preserveRng = false;
  size_t keepLast = 0;
  std::vector<at::Tensor> rng;  // the generator state before each layer's body
  // For the kept layers (the last keepLast): the body's input as a leaf, its output with its graph, and
  // the side inputs as the leaves those graphs read.
  std::vector<at::Tensor> keptInputs, keptBodies, keptSides;
};

// The couplings applied in order; with `rng`, the generator state before each layer's body is recorded;
// with `state`, its last keepLast layers keep their bodies' graphs there.
std::pair<at::Tensor, at::Tensor> couple(const std::vector<Coupling>& layers, at::Tensor a, at::Tensor b, const std::vector<at::Tensor>& sides,
                                         std::vector<at::Tensor>* rng, SequenceState* state = nullptr) {
  const size_t firstKept = state ? layers.size() - std::min(state->keepLast, layers.size()) : layers.size();
  for (size_t i = 0; i < layers.size(); ++i) {
    const Coupling& layer = layers[i];
    if (rng) rng->push_back(captureRng());
    const at::Tensor v = couplingWeight(layer.vLogit);
    at::Tensor body;
    if (i >= firstKept) {
      c10::AutoGradMode enable(true);
      if (state->keptSides.empty())
        for (size_t s = 0; s < sides.size(); ++s) state->keptSides.push_back(sides[s].detach().requires_grad_(state->needsGrad[2 + s]));
      const at::Tensor input = a.detach().requires_grad_(true);
      const at::Tensor kept = layer.body(input, state->keptSides);
      state->keptInputs.push_back(input);
      state->keptBodies.push_back(kept);
      body = kept.detach();
    } else {
      body = layer.body(a, sides);
    }
    at::Tensor next = (1 - v) * body + v * b;
    b = a;
    a = next;
  }
  return {a, b};
}

struct SequenceFunction : torch::autograd::Function<SequenceFunction> {
  static variable_list forward(AutogradContext* ctx, c10::intrusive_ptr<SequenceState> state, at::TensorList inputs) {
    for (const auto& t : inputs) state->needsGrad.push_back(t.requires_grad());
    const std::vector<at::Tensor> sides(inputs.begin() + 2, inputs.begin() + 2 + state->sides);
    auto [a, b] = couple(state->layers, inputs[0], inputs[1], sides, state->preserveRng ? &state->rng : nullptr, state.get());
    // An output that is an input (a single layer's y₂ = x₁) must be a tensor of its own for autograd.
    if (b.is_same(inputs[0])) b = b.clone();
    std::vector<at::Tensor> saved{a, b};
    saved.insert(saved.end(), sides.begin(), sides.end());
    ctx->save_for_backward(saved);
    ctx->saved_data["state"] = c10::IValue::make_capsule(state);
    return {a, b};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto state = c10::static_intrusive_pointer_cast<SequenceState>(ctx->saved_data["state"].toCapsule());
    const auto saved = ctx->get_saved_variables();
    at::Tensor y1 = saved[0].detach(), y2 = saved[1].detach();
    at::Tensor dy1 = orZeros(grads[0], y1), dy2 = orZeros(grads[1], y2);
    variable_list out(2 + state->sides + state->params.size() + 1);  // slot 0: the state argument
    c10::AutoGradMode enable(true);
    RngRestorer keep(state->preserveRng);
    const size_t firstKept = state->layers.size() - state->keptBodies.size();
    for (size_t i = state->layers.size(); i-- > 0;) {
      const Coupling& layer = state->layers[i];
      const bool kept = i >= firstKept;
      // A kept layer's input is exact; the others are rebuilt from the outputs.
      const at::Tensor x1 = kept ? state->keptInputs[i - firstKept] : y2.detach().requires_grad_(true);
      Differentiable wrt;
      std::vector<at::Tensor> sides;
      for (size_t s = 0; s < state->sides; ++s) {
        sides.push_back(kept ? state->keptSides[s] : saved[2 + s].detach().requires_grad_(state->needsGrad[2 + s]));
        if (state->needsGrad[2 + s]) wrt.add(sides.back(), 3 + s);
      }
      for (size_t p = 0; p < state->params.size(); ++p)
        if (state->params[p].requires_grad()) wrt.add(state->params[p], 3 + state->sides + p);
      if (state->preserveRng && !kept) restoreRng(state->rng[i]);
      const at::Tensor body = kept ? state->keptBodies[i - firstKept] : layer.body(x1, sides);
      const at::Tensor v = couplingWeight(layer.vLogit);
      const at::Tensor x2 = ((y1 - (1 - v) * body) / v).detach();
      const at::Tensor y = (1 - v) * body + v * x2;
      variable_list inputs{x1};
      inputs.insert(inputs.end(), wrt.tensors.begin(), wrt.tensors.end());
      const variable_list g = torch::autograd::grad({y}, inputs, {dy1}, /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
      wrt.accumulate(g, 1, out);
      if (kept) state->keptBodies[i - firstKept] = at::Tensor();  // its graph is spent
      const at::Tensor dx1 = g[0].defined() ? g[0] + dy2 : dy2;
      dy2 = v.detach() * dy1;
      dy1 = dx1;
      y1 = x1.detach();
      y2 = x2;
    }
    out[1] = dy1;
    out[2] = dy2;
    return out;
  }
};

struct CheckpointState : torch::CustomClassHolder {
  CheckpointBody fn;
  std::vector<at::Tensor> params;
  size_t inputs = 0;
  std::vector<bool> needsGrad;
  at::Tensor rng;
};

struct CheckpointFunction : torch::autograd::Function<CheckpointFunction> {
  static variable_list forward(AutogradContext* ctx, c10::intrusive_ptr<CheckpointState> state, at::TensorList all) {
    std::vector<at::Tensor> inputs(all.begin(), all.begin() + state->inputs);
    for (const auto& t : inputs) state->needsGrad.push_back(t.requires_grad());
    ctx->save_for_backward(inputs);
    ctx->saved_data["state"] = c10::IValue::make_capsule(state);
    return {state->fn(inputs)};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto state = c10::static_intrusive_pointer_cast<CheckpointState>(ctx->saved_data["state"].toCapsule());
    const auto saved = ctx->get_saved_variables();
    variable_list out(1 + state->inputs + state->params.size());
    if (!grads[0].defined()) return out;
    Differentiable wrt;
    std::vector<at::Tensor> inputs;
    for (size_t i = 0; i < saved.size(); ++i) {
      inputs.push_back(saved[i].detach().requires_grad_(state->needsGrad[i]));
      if (state->needsGrad[i]) wrt.add(inputs.back(), 1 + i);
    }
    for (size_t p = 0; p < state->params.size(); ++p)
      if (state->params[p].requires_grad()) wrt.add(state->params[p], 1 + state->inputs + p);
    if (wrt.tensors.empty()) return out;
    c10::AutoGradMode enable(true);
    RngRestorer keep(state->rng.defined());
    if (state->rng.defined()) restoreRng(state->rng);
    const at::Tensor y = state->fn(inputs);
    wrt.accumulate(torch::autograd::grad({y}, wrt.tensors, {grads[0]}, false, false, true), 0, out);
    return out;
  }
};

bool anyNeedsGrad(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  for (const auto* list : {&a, &b})
    for (const auto& t : *list)
      if (t.defined() && t.requires_grad()) return true;
  return false;
}

}  // namespace

std::pair<at::Tensor, at::Tensor> runCouplings(const std::vector<Coupling>& layers, const at::Tensor& x1, const at::Tensor& x2,
                                               const std::vector<at::Tensor>& sides, const std::vector<at::Tensor>& params,
                                               SequenceOptions options) {
  if (!x1.sizes().equals(x2.sizes())) throw std::invalid_argument("reversible couplings: the two streams must have the same shape");
  const bool record = at::GradMode::is_enabled() && (anyNeedsGrad({x1, x2}, sides) || anyNeedsGrad(params, {}));
  if (!options.reversible || !record) return couple(layers, x1, x2, sides, nullptr);
  auto state = c10::make_intrusive<SequenceState>();
  state->layers = layers;
  state->params = params;
  state->sides = sides.size();
  state->preserveRng = options.preserveRng;
  state->keepLast = options.keepLast;
  std::vector<at::Tensor> inputs{x1, x2};
  inputs.insert(inputs.end(), sides.begin(), sides.end());
  inputs.insert(inputs.end(), params.begin(), params.end());
  const auto out = SequenceFunction::apply(state, at::TensorList(inputs));
  return {out[0], out[1]};
}

std::pair<at::Tensor, at::Tensor> invertCouplings(const std::vector<Coupling>& layers, const at::Tensor& y1, const at::Tensor& y2,
                                                  const std::vector<at::Tensor>& sides) {
  at::NoGradGuard off;
  at::Tensor a = y1, b = y2;
  for (size_t i = layers.size(); i-- > 0;) {
    const at::Tensor v = couplingWeight(layers[i].vLogit);
    at::Tensor x2 = (a - (1 - v) * layers[i].body(b, sides)) / v;
    a = b;
    b = x2;
  }
  return {a, b};
}

at::Tensor checkpoint(const CheckpointBody& fn, const std::vector<at::Tensor>& inputs, const std::vector<at::Tensor>& params,
                      bool enabled, bool preserveRng) {
  if (!enabled || !at::GradMode::is_enabled() || !anyNeedsGrad(inputs, params)) return fn(inputs);
  auto state = c10::make_intrusive<CheckpointState>();
  state->fn = fn;
  state->params = params;
  state->inputs = inputs.size();
  if (preserveRng) state->rng = captureRng();
  std::vector<at::Tensor> all(inputs);
  all.insert(all.end(), params.begin(), params.end());
  return CheckpointFunction::apply(state, at::TensorList(all))[0];
}

}  // namespace invdiff
