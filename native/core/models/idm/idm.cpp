#include "core/models/idm/idm.h"

#include <stdexcept>

#include "core/models/diffusion/precond.h"
#include "core/nn/reversible.h"

namespace invdiff::idm {

namespace {
// ᾱ_1…ᾱ_T as the cumulative product of the learned α, kept inside (0, 1) so every square root stays differentiable.
at::Tensor cumulative(const at::Tensor& alpha) { return at::cumprod(alpha.clamp(1e-4, 0.9999), 0); }
}  // namespace

Idm::Idm(const Options& options) : config_(UNetConfig::from(options)) {
  unet_ = register_module("unet", std::make_shared<UNet>(config_));
  alpha_ = register_parameter("alpha", at::full({config_.steps}, 0.5));
  inputScale_ = register_parameter("input_scale", at::ones({}));
  outputMerge_ = register_parameter("output_merge", at::zeros({}));
  auto logits = register_module("coupling_logits", std::make_shared<torch::nn::Module>());
  for (int64_t k = 0; k < config_.steps; ++k) logits_.push_back(logits->register_parameter(std::to_string(k), at::full({}, couplingLogit(0.5))));
}

std::vector<at::Tensor> Idm::forward(const std::vector<at::Tensor>&) {
  throw std::invalid_argument("idm: a reconstruction needs the operator: call denoise with a context (IDM.reconstruct(A, y))");
}

// F_t: ε and x̂₀ from the U-Net, the projection x̂₀ − A⁺(A x̂₀ − y), then DDIM (η = 0) to step t − 1.
at::Tensor Idm::step(const at::Tensor& x, int64_t t, const std::shared_ptr<const operators::Operator>& op, const at::Tensor& y) {
  const at::Tensor abar = cumulative(alpha_);
  const at::Tensor now = abar[t - 1];
  const Measurement m{op, op->adjoint(y)};
  at::Tensor eps, x0;
  if (config_.edm) {
    // x_t = √ᾱ·(x₀ + σ·ε): the EDM denoiser sees x_t/√ᾱ at σ = √((1 − ᾱ)/ᾱ).
    const at::Tensor scale = at::sqrt(now), sigma = at::sqrt(1 - now) / scale;
    const diffusion::Precond pre("idm", sigma, x, config_.sigmaData);
    const at::Tensor xs = x / scale;
    x0 = pre.output(xs, unet_->forward(xs * pre.cIn(), t, m, pre.cNoise()));
    eps = (xs - x0) / sigma;
  } else {
    eps = unet_->forward(x, t, m);
    x0 = (x - at::sqrt(1 - now) * eps) / at::sqrt(now);
  }
  x0 = x0 - op->pinv(op->forward(x0) - y);
  if (t == 1) return x0;  // ᾱ₀ = 1: the last step is x̂₀ itself
  const at::Tensor prev = abar[t - 2];
  return at::sqrt(prev) * x0 + at::sqrt(1 - prev) * eps;
}

Options Idm::info() const {
  Options facts = Module::info();
  facts.numbers["sizeMultiple"] = static_cast<double>(config_.sizeMultiple());
  facts.numbers["imageChannels"] = static_cast<double>(config_.imageChannels);
  return facts;
}

at::Tensor Idm::reconstruct(std::shared_ptr<const operators::Operator> op, const at::Tensor& y) {
  const auto& shape = op->setup().imageShape;
  if (shape[0] != config_.imageChannels)
    throw std::invalid_argument("idm: the operator's images have " + std::to_string(shape[0]) + " channels, this model was built for imageChannels " +
                                std::to_string(config_.imageChannels));
  const int64_t k = config_.sizeMultiple();
  if (shape[1] % k || shape[2] % k)
    throw std::invalid_argument("idm: this model needs image height and width that are multiples of " + std::to_string(k) + ", the operator's are " +
                                std::to_string(shape[1]) + "×" + std::to_string(shape[2]) + " (pad the images)");
  const at::Tensor measured = y.to(alpha_.scalar_type());
  const at::Tensor pinv = op->pinv(measured);
  if (pinv.dim() != 4) throw std::invalid_argument("idm: argument 'y' must hold one measurement per image (N×...), not stacks");
  const at::Tensor start = at::sqrt(cumulative(alpha_)[config_.steps - 1]) * pinv;
  auto self = std::static_pointer_cast<Idm>(shared_from_this());
  std::vector<Coupling> chain;
  for (int64_t t = config_.steps; t >= 1; --t)
    chain.push_back({[self, t, op](const at::Tensor& x, const std::vector<at::Tensor>& sides) { return self->step(x, t, op, sides[0]); },
                     logits_[config_.steps - t]});
  const bool rng = is_training() && config_.dropout > 0;
  at::Tensor a, b;
  std::tie(a, b) = runCouplings(chain, start, inputScale_ * start, {measured}, parameters(), {config_.reversible, rng, static_cast<size_t>(config_.keepSteps)});
  const at::Tensor out = a + outputMerge_ * b;
  // Noisy y would put its noise back into A's range: there the coupled output stands.
  return config_.finalProjection && op->setup().noiseStd == 0 ? op->project(out, measured) : out;
}

at::Tensor Idm::denoise(const at::Tensor& x, const at::Tensor& sigma, const Context& context) {
  if (x.defined() || sigma.defined())
    throw std::invalid_argument("idm: the chain starts from A⁺y at its own noise levels; pass no 'x' and no 'sigma'");
  if (!context.op || !context.y.defined()) throw std::invalid_argument("idm: a reconstruction needs the context's 'operator' and 'y'");
  return reconstruct(context.op, context.y);
}

std::shared_ptr<Module> makeIdm(const Options& options) { return std::make_shared<Idm>(options); }

}  // namespace invdiff::idm
