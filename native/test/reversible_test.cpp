// Reversible couplings and checkpoints: exact inversion, gradients equal to stored-activation autograd
// (also through nesting and side inputs), a finite-difference check, and dropout replayed in backward.
#include <cmath>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>

#include "core/nn/reversible.h"
#include "expect.h"

using invdiff::Coupling;

namespace {

at::Tensor param(std::vector<int64_t> shape, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randn(shape, gen, at::TensorOptions().dtype(at::kDouble)).mul_(0.5).requires_grad_(true);
}

double relError(const at::Tensor& a, const at::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1e-300, b.abs().max().item<double>());
}

// A small network of layers with parameters: tanh(x W + b + c·side).
struct Toy {
  std::vector<at::Tensor> weights, biases, logits;
  at::Tensor sideScale = param({}, 99);
  explicit Toy(int n, uint64_t seed) {
    for (int i = 0; i < n; ++i) {
      weights.push_back(param({4, 4}, seed + 3 * i));
      biases.push_back(param({4}, seed + 3 * i + 1));
      logits.push_back(param({}, seed + 3 * i + 2));
    }
  }
  std::vector<Coupling> layers(bool useSide) const {
    std::vector<Coupling> out;
    for (size_t i = 0; i < weights.size(); ++i)
      out.push_back({[w = weights[i], b = biases[i], s = sideScale, useSide](const at::Tensor& x, const std::vector<at::Tensor>& sides) {
                       at::Tensor h = x.matmul(w) + b;
                       if (useSide) h = h + s * sides[0];
                       return at::tanh(h);
                     },
                     logits[i]});
    return out;
  }
  std::vector<at::Tensor> params() const {
    std::vector<at::Tensor> p(weights);
    p.insert(p.end(), biases.begin(), biases.end());
    p.insert(p.end(), logits.begin(), logits.end());
    p.push_back(sideScale);
    return p;
  }
};

// Gradients of a fixed random projection of the output pair, by torch::autograd::grad.
std::vector<at::Tensor> gradients(const std::function<std::pair<at::Tensor, at::Tensor>()>& run, const std::vector<at::Tensor>& wrt) {
  const auto [y1, y2] = run();
  const at::Tensor w1 = param(y1.sizes().vec(), 7).detach(), w2 = param(y2.sizes().vec(), 8).detach();
  const at::Tensor loss = (y1 * w1).sum() + (y2 * w2 * y2).sum();
  return torch::autograd::grad({loss}, wrt, {}, false, false, true);
}

bool allClose(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b, double tol, double* worst = nullptr) {
  double w = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].defined() != b[i].defined()) return false;
    if (a[i].defined()) w = std::max(w, relError(a[i], b[i]));
  }
  if (worst) *worst = w;
  return w < tol;
}

}  // namespace

void reversibleTests() {
  const Toy toy(5, 10);
  const at::Tensor x1 = param({2, 3, 4}, 1), x2 = param({2, 3, 4}, 2), side = param({2, 3, 4}, 3);
  std::vector<at::Tensor> wrt{x1, x2, side};
  for (const auto& p : toy.params()) wrt.push_back(p);

  {  // inversion to 1e-10 in float64, with a side input
    const auto layers = toy.layers(true);
    c10::NoGradGuard off;
    const auto [y1, y2] = invdiff::runCouplings(layers, x1, x2, {side}, toy.params(), {});
    const auto [r1, r2] = invdiff::invertCouplings(layers, y1, y2, {side});
    EXPECT(relError(r1, x1) < 1e-10 && relError(r2, x2) < 1e-10, "couplings invert to 1e-10 (float64, side input)");
    EXPECT(relError(y2, x1) > 1e-3, "the output is not trivially the input");
  }

  // Outer couplings whose bodies run an inner reversible sequence (with the side input).
  const Toy inner(3, 50);
  auto nestedLayers = [&](bool reversible) {
    std::vector<Coupling> out;
    for (int i = 0; i < 3; ++i)
      out.push_back({[&inner, reversible, i](const at::Tensor& x, const std::vector<at::Tensor>& sides) {
                       const auto [a, b] = invdiff::runCouplings(inner.layers(true), x, x * (0.5 + 0.1 * i), sides, inner.params(), {reversible});
                       return a - 0.3 * b;
                     },
                     inner.logits[i]});
    return out;
  };
  std::vector<at::Tensor> nestedParams = inner.params();
  std::vector<at::Tensor> nestedWrt{x1, x2, side};
  nestedWrt.insert(nestedWrt.end(), nestedParams.begin(), nestedParams.end());

  {  // nested sequences invert too
    c10::NoGradGuard off;
    const auto layers = nestedLayers(true);
    const auto [y1, y2] = invdiff::runCouplings(layers, x1, x2, {side}, nestedParams, {});
    const auto [r1, r2] = invdiff::invertCouplings(layers, y1, y2, {side});
    EXPECT(relError(r1, x1) < 1e-10 && relError(r2, x2) < 1e-10, "nested couplings invert to 1e-10");
  }

  {  // reversible backward equals stored-activation autograd, for inputs, the side input and every parameter
    auto run = [&](bool reversible) {
      return gradients([&] { return invdiff::runCouplings(toy.layers(true), x1, x2, {side}, toy.params(), {reversible}); }, wrt);
    };
    double worst = 0;
    EXPECT(allClose(run(true), run(false), 1e-10, &worst), "reversible gradients equal stored ones (float64)");
    auto nested = [&](bool reversible) {
      return gradients([&] { return invdiff::runCouplings(nestedLayers(reversible), x1, x2, {side}, nestedParams, {reversible}); }, nestedWrt);
    };
    EXPECT(allClose(nested(true), nested(false), 1e-10), "nested reversible gradients equal stored ones");
    const auto g = run(true);
    bool nonzero = true;
    for (const auto& t : g) nonzero = nonzero && t.defined() && t.abs().sum().item<double>() > 0;
    EXPECT(nonzero, "every input and parameter receives a gradient");
  }

  {  // finite differences on a tiny coupling, through the reversible backward
    const Toy tiny(2, 200);
    const at::Tensor a = param({1, 4}, 5), b = param({1, 4}, 6);
    auto loss = [&]() {
      const auto [y1, y2] = invdiff::runCouplings(tiny.layers(false), a, b, {}, tiny.params(), {true});
      return (y1 * y1).sum() + (y2 * 0.7).sum();
    };
    const auto params = tiny.params();
    const auto g = torch::autograd::grad({loss()}, {tiny.weights[1], tiny.logits[0], a}, {}, false, false, true);
    const std::vector<at::Tensor> checked{tiny.weights[1], tiny.logits[0], a};
    double worst = 0;
    for (size_t k = 0; k < checked.size(); ++k) {
      at::Tensor flat = checked[k].detach().view({-1});
      for (int64_t i = 0; i < flat.numel(); ++i) {
        const double h = 1e-6, keep = flat[i].item<double>();
        flat[i] = keep + h;
        const double up = loss().item<double>();
        flat[i] = keep - h;
        const double downValue = loss().item<double>();
        flat[i] = keep;
        worst = std::max(worst, std::abs((up - downValue) / (2 * h) - g[k].view({-1})[i].item<double>()));
      }
    }
    EXPECT(worst < 1e-7, "reversible gradients match central differences");
  }

  {  // checkpointing recomputes to the same gradients
    const at::Tensor w = param({4, 4}, 300);
    auto run = [&](bool enabled) {
      return gradients(
          [&] {
            at::Tensor y = invdiff::checkpoint([&](const std::vector<at::Tensor>& in) { return at::tanh(in[0].matmul(w) + in[1]); }, {x1, side}, {w}, enabled);
            return std::make_pair(y, y * 2);
          },
          {x1, side, w});
    };
    EXPECT(allClose(run(true), run(false), 1e-12), "checkpointed gradients equal direct ones");
  }

  {  // dropout inside a body: the backward recomputation replays the forward's random masks
    auto layers = toy.layers(false);
    for (auto& l : layers)
      l.body = [f = l.body](const at::Tensor& x, const std::vector<at::Tensor>& s) { return at::dropout(f(x, s), 0.5, true); };
    auto run = [&](bool reversible) {
      at::manual_seed(1234);
      auto g = gradients([&] { return invdiff::runCouplings(layers, x1, x2, {}, toy.params(), {reversible, true}); }, {x1, x2, toy.weights[0]});
      g.push_back(at::rand({1}, at::TensorOptions().dtype(at::kDouble)));  // the stream after backward
      return g;
    };
    EXPECT(allClose(run(true), run(false), 1e-10), "dropout masks replay in backward; the generator ends where it would have");
  }

  {  // the coupling weight never reaches 0, so the inverse stays finite
    const double low = invdiff::couplingWeight(at::full({}, -1e3, at::kDouble)).item<double>();
    EXPECT(std::abs(low - invdiff::kCouplingFloor) < 1e-12, "coupling weight is floored");
    EXPECT(std::abs(invdiff::couplingWeight(at::full({}, invdiff::couplingLogit(0.5), at::kDouble)).item<double>() - 0.5) < 1e-12, "logit of 0.5 gives 0.5");
  }
}
