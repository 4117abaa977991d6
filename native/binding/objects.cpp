// Object rows of the op table: tensor properties and autograd, memory and threads, native modules,
// optimizers and safetensors files. The hand-written TypeScript classes call these.
#include <torch/types.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <algorithm>
#include <set>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "binding/dispatch.h"
#include "binding/table.h"
#include "core/backend.h"
#include "core/models/registry.h"
#include "core/memory.h"
#include "core/optimizer_state.h"

namespace invdiff::binding {
namespace {

std::shared_ptr<torch::optim::Optimizer> createOptimizer(const std::string& kind, const std::vector<at::Tensor>& params, const Options& o) {
  if (params.empty()) throw std::invalid_argument("argument 'params' expected at least one Tensor");
  for (const auto& p : params)
    if (!p.requires_grad()) throw std::invalid_argument("argument 'params' holds a tensor that does not require grad");
  const double lr = o.number(kind, "lr", kind == "sgd" ? 0.01 : 1e-3);
  const double weightDecay = o.number(kind, "weightDecay", kind == "adamw" ? 1e-2 : 0);
  if (!(lr > 0)) throw std::invalid_argument(kind + ": option 'lr' must be positive");
  if (kind == "adam" || kind == "adamw") {
    const double b1 = o.number(kind, "beta1", 0.9), b2 = o.number(kind, "beta2", 0.999), eps = o.number(kind, "eps", 1e-8);
    if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) throw std::invalid_argument(kind + ": options 'beta1' and 'beta2' must lie in [0, 1)");
    if (kind == "adam")
      return std::make_shared<torch::optim::Adam>(
          params, torch::optim::AdamOptions(lr).betas({b1, b2}).eps(eps).weight_decay(weightDecay).amsgrad(o.flag(kind, "amsgrad", false)));
    return std::make_shared<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(lr).betas({b1, b2}).eps(eps).weight_decay(weightDecay).amsgrad(o.flag(kind, "amsgrad", false)));
  }
  if (kind == "sgd")
    return std::make_shared<torch::optim::SGD>(params, torch::optim::SGDOptions(lr)
                                                            .momentum(o.number(kind, "momentum", 0))
                                                            .weight_decay(weightDecay)
                                                            .nesterov(o.flag(kind, "nesterov", false)));
  throw std::invalid_argument("argument 'kind' expected 'adam', 'adamw' or 'sgd', got '" + kind + "'");
}

constexpr int64_t kMaxThreads = 1024;

// A worker reads the parameters meanwhile: changing their dtype, device or values would race with it.
// A tensor of another floating dtype than the model's weights fails deep inside a layer, where LibTorch
// names neither; say which argument, and both ways out.
void refuseOtherDtype(const Args& a, const Module& m, size_t i, const at::Tensor& t, const std::string& which) {
  if (!t.defined() || !t.is_floating_point()) return;
  for (const auto& p : m.parameters()) {
    if (!p.is_floating_point() || p.scalar_type() == t.scalar_type()) return;
    const std::string want = dtypeName(p.scalar_type());
    a.fail(i, "the model's dtype " + want + ", got " + dtypeName(t.scalar_type()) + which + " (convert it with .to({ dtype: '" + want +
                  "' }), or the model with .to({ dtype: '" + dtypeName(t.scalar_type()) + "' }))");
  }
}

void refuseWhileAsync(const Module& m, const char* what) {
  if (const int n = asyncCallsUsing(m))
    throw std::invalid_argument("argument 'module' is in use by " + std::to_string(n) + " async call" + (n > 1 ? "s" : "") + " still running; " + what +
                                " would change its parameters under them (await them first)");
}

const std::vector<OpImpl> rows = {
    // ---- handles ----
    {"dispose", [](const Args& a) -> Result { return tensorHandles().release(static_cast<int64_t>(a.n(0))); }},
    {"disposeAll",
     [](const Args& a) -> Result {
       const at::Tensor h = a.t(0).to(at::kDouble);
       const double* p = h.data_ptr<double>();
       int64_t released = 0;
       for (int64_t i = 0; i < h.numel(); ++i) released += tensorHandles().release(static_cast<int64_t>(p[i]));
       return released;
     }},
    {"isLive", [](const Args& a) -> Result { return tensorHandles().find(static_cast<int64_t>(a.n(0))) != nullptr; }},

    // ---- tensor properties and autograd ----
    {"shape", [](const Args& a) -> Result { return a.t(0).sizes().vec(); }},
    {"dtype", [](const Args& a) -> Result { return dtypeName(a.t(0).scalar_type()); }},
    {"device", [](const Args& a) -> Result { return a.t(0).device().str(); }},
    {"numel", [](const Args& a) -> Result { return a.t(0).numel(); }},
    {"requiresGrad", [](const Args& a) -> Result { return a.t(0).requires_grad(); }},
    {"setRequiresGrad",
     [](const Args& a) -> Result {
       a.t(0).set_requires_grad(a.b(1));
       return {};
     }},
    {"tensorGrad", [](const Args& a) -> Result { return a.t(0).grad(); }},
    {"zeroGrad",
     [](const Args& a) -> Result {
       if (a.t(0).grad().defined()) a.t(0).mutable_grad().reset();
       return {};
     }},
    {"backward",
     [](const Args& a) -> Result {
       if (!a.has(1) && a.t(0).numel() != 1)
         throw std::invalid_argument("backward of a tensor with " + std::to_string(a.t(0).numel()) + " elements needs 'gradient' (only a scalar has an implied one)");
       a.t(0).backward(a.t(1), a.b(2));
       return {};
     }},
    {"grad",
     [](const Args& a) -> Result {
       if (a.t(0).numel() != 1) throw std::invalid_argument("argument 'output' expected a one-element tensor, got " + std::to_string(a.t(0).numel()) + " elements");
       auto grads = torch::autograd::grad({a.t(0)}, a.ts(1), {}, a.b(2), false, /*allow_unused=*/true);
       for (size_t i = 0; i < grads.size(); ++i)
         if (!grads[i].defined()) grads[i] = at::zeros_like(a.ts(1)[i]);
       return std::vector<at::Tensor>(grads.begin(), grads.end());
     }},
    {"item", [](const Args& a) -> Result { return a.t(0).item<double>(); }},
    {"data", [](const Args& a) -> Result { return Result::data(a.t(0)); }},
    {"setGradEnabled",
     [](const Args& a) -> Result {
       const bool previous = at::GradMode::is_enabled();
       at::GradMode::set_enabled(a.b(0));
       return previous;
     }},

    // ---- memory, threads, backend ----
    {"memoryStats",
     [](const Args&) -> Result {
       const auto cpu = memory::cpu();
       const auto cuda = memory::cuda(0);
       Options facts;
       facts.numbers = {{"tensors", static_cast<double>(tensorHandles().live())}, {"bytes", static_cast<double>(cpu.bytes)},
                        {"peakBytes", static_cast<double>(cpu.peakBytes)},        {"cudaBytes", static_cast<double>(cuda.bytes)},
                        {"cudaPeakBytes", static_cast<double>(cuda.peakBytes)}, {"reportedToV8", static_cast<double>(reportedToV8)}};
       return Result::object(std::move(facts));
     }},
    {"resetPeakMemory", [](const Args&) -> Result { memory::resetPeak(); return {}; }},
    {"setNumThreads",
     [](const Args& a) -> Result {
       // LibTorch starts that many threads at the next parallel op: 1e6 of them never finishes.
       if (a.i64(0) < 1 || a.i64(0) > kMaxThreads)
         throw std::invalid_argument("argument 'n' expected a number of threads in [1, " + std::to_string(kMaxThreads) + "], got " + std::to_string(a.i64(0)));
       backend::setNumThreads(static_cast<int>(a.i64(0)));
       return {};
     }},
    {"backendInfo",
     [](const Args&) -> Result {
       const auto i = backend::info();
       Options facts;
       facts.strings["torch"] = i.torch;
       facts.flags["cuda"] = i.cuda;
       facts.numbers["cudaDevices"] = i.cudaDevices;
       facts.numbers["threads"] = i.threads;
       facts.numbers["blasThreads"] = i.blasThreads;
       facts.strings["blasCore"] = i.blasCore;
       return Result::object(std::move(facts));
     }},

    // ---- modules ----
    {"moduleKinds", [](const Args&) -> Result { return moduleKinds(); }},
    {"moduleCreate",
     [](const Args& a) -> Result {
       if (!a.has(2)) return createModule(a.s(0), a.options(1));
       if (!(a.n(2) >= 0)) a.fail(2, "a non-negative number of bytes");
       const memory::AllocationLimit limit(static_cast<int64_t>(std::min(a.n(2), 9e18)));
       return createModule(a.s(0), a.options(1));
     }},
    {"moduleForward",
     [](const Args& a) -> Result {
       if (a.ts(1).size() != a.module(0).arity())
         throw std::invalid_argument("argument 'inputs' expected " + std::to_string(a.module(0).arity()) + " tensors, got " + std::to_string(a.ts(1).size()));
       for (size_t k = 0; k < a.ts(1).size(); ++k) refuseOtherDtype(a, a.module(0), 1, a.ts(1)[k], " in entry " + std::to_string(k));
       return a.module(0).forward(a.ts(1));
     }},
    {"modelDenoise",
     [](const Args& a) -> Result {
       if (a.has(3) != a.has(4)) a.fail(a.has(3) ? 4 : 3, "a value when the other of 'operator' and 'y' is given (the measurement is both)");
       refuseOtherDtype(a, a.module(0), 1, a.t(1), "");
       refuseOtherDtype(a, a.module(0), 4, a.t(4), "");
       const Context context{a.has(3) ? a.sharedOp(3) : nullptr, a.t(4)};
       return a.module(0).denoise(a.t(1), a.t(2), context);  // an absent tensor argument is an undefined tensor
     }},
    {"modelLogVariance", [](const Args& a) -> Result { return a.module(0).logVariance(a.t(1)); }},
    {"moduleInfo", [](const Args& a) -> Result { return Result::object(a.module(0).info()); }},
    {"moduleNamedParameters",
     [](const Args& a) -> Result {
       safetensors::NamedTensors out;
       for (const auto& p : a.module(0).named_parameters()) out.emplace_back(p.key(), p.value());
       return out;
     }},
    {"moduleLoadState",
     [](const Args& a) -> Result {
       at::NoGradGuard noGrad;
       refuseWhileAsync(a.module(0), "loadStateDict()");
       auto params = a.module(0).named_parameters();
       // The set of names is checked, not their count (a name given twice would leave another parameter
       // at its initial value), and all of it before any value is copied, so a failed load changes nothing.
       std::set<std::string> given;
       for (const auto& [name, value] : a.named(1)) {
         const at::Tensor* p = params.find(name);
         if (!p) throw std::invalid_argument("argument 'state' names '" + name + "', which this module does not have");
         if (!given.insert(name).second) throw std::invalid_argument("argument 'state' names '" + name + "' twice");
         if (p->sizes() != value.sizes())
           throw std::invalid_argument("argument 'state' gives '" + name + "' shape " + c10::str(value.sizes()) + ", the module has " + c10::str(p->sizes()));
       }
       for (const auto& p : params)
         if (!given.count(p.key()))
           throw std::invalid_argument("argument 'state' lacks '" + p.key() + "' (it has " + std::to_string(given.size()) + " of the module's " + std::to_string(params.size()) + " tensors)");
       for (const auto& [name, value] : a.named(1)) params.find(name)->copy_(value);
       return {};
     }},
    {"moduleSetTraining",
     [](const Args& a) -> Result {
       a.module(0).train(a.b(1));
       return {};
     }},
    {"moduleIsTraining", [](const Args& a) -> Result { return a.module(0).is_training(); }},
    {"moduleTo",
     [](const Args& a) -> Result {
       Module& m = a.module(0);
       refuseWhileAsync(m, "to()");
       if (a.has(1) && a.has(2)) m.to(parseDevice(a.s(1), "device"), parseDtype(a.s(2), "dtype"));
       else if (a.has(1)) m.to(parseDevice(a.s(1), "device"));
       else if (a.has(2)) m.to(parseDtype(a.s(2), "dtype"));
       return {};
     }},
    {"moduleDispose", [](const Args& a) -> Result { return moduleHandles().release(static_cast<int64_t>(a.n(0))); }},

    // ---- optimizers ----
    {"optimizerCreate",
     [](const Args& a) -> Result {
       auto optimizer = createOptimizer(a.s(0), a.ts(1), a.options(2));
       a.options(2).rejectUnread(a.s(0));
       return optimizer;
     }},
    {"optimizerStep",
     [](const Args& a) -> Result {
       at::NoGradGuard noGrad;
       a.optimizer(0).step();
       return {};
     }},
    {"optimizerZeroGrad",
     [](const Args& a) -> Result {
       for (auto& group : a.optimizer(0).param_groups())
         for (auto& p : group.params())
           if (p.grad().defined()) p.mutable_grad().reset();
       return {};
     }},
    {"optimizerLr",
     [](const Args& a) -> Result { return a.optimizer(0).param_groups().at(0).options().get_lr(); }},
    {"optimizerSetLr",
     [](const Args& a) -> Result {
       if (!(a.n(1) > 0) || !std::isfinite(a.n(1))) throw std::invalid_argument("argument 'lr' expected a positive finite number");
       for (auto& group : a.optimizer(0).param_groups()) group.options().set_lr(a.n(1));
       return {};
     }},
    {"optimizerState", [](const Args& a) -> Result { return optim::state(a.optimizer(0)); }},
    {"optimizerLoadState",
     [](const Args& a) -> Result {
       optim::loadState(a.optimizer(0), a.named(1));
       return {};
     }},
    {"optimizerDispose",
     [](const Args& a) -> Result { return optimizerHandles().release(static_cast<int64_t>(a.n(0))); }},
    {"clipGradNorm",
     [](const Args& a) -> Result {
       if (!(a.n(1) > 0)) throw std::invalid_argument("argument 'maxNorm' expected a positive number");
       return torch::nn::utils::clip_grad_norm_(a.ts(0), a.n(1), a.n(2));
     }},

    {"emaUpdate",
     [](const Args& a) -> Result {
       const auto& avg = a.ts(0);
       const auto& params = a.ts(1);
       if (avg.size() != params.size()) throw std::invalid_argument("arguments 'average' and 'params' must have the same length");
       if (!(a.n(2) >= 0 && a.n(2) <= 1)) throw std::invalid_argument("argument 'decay' must lie in [0, 1]");
       at::NoGradGuard off;
       for (size_t i = 0; i < avg.size(); ++i) {
         if (!avg[i].sizes().equals(params[i].sizes())) throw std::invalid_argument("argument 'average' tensor " + std::to_string(i) + " differs in shape from its parameter");
         avg[i].mul_(a.n(2)).add_(params[i].detach(), 1 - a.n(2));
       }
       return {};
     }},
    {"zeroNonFiniteGrads",
     [](const Args& a) -> Result {
       at::NoGradGuard off;
       double affected = 0;
       for (const at::Tensor& p : a.ts(0)) {
         const at::Tensor& g = p.grad();
         if (!g.defined()) continue;
         // The square too: a finite gradient past √max (1.8e19 in float32) would make Adam's second
         // moment infinite, which then freezes that parameter for good.
         const at::Tensor bad = at::isfinite(g * g).logical_not();
         if (!bad.any().item<bool>()) continue;
         g.masked_fill_(bad, 0);
         ++affected;
       }
       return affected;
     }},
    {"rngState",
     [](const Args&) -> Result {
       auto gen = at::detail::getDefaultCPUGenerator();
       std::lock_guard<std::mutex> lock(gen.mutex());
       return gen.get_state();
     }},
    {"setRngState",
     [](const Args& a) -> Result {
       auto gen = at::detail::getDefaultCPUGenerator();
       std::lock_guard<std::mutex> lock(gen.mutex());
       gen.set_state(a.t(0));
       return {};
     }},

    // ---- files ----
    {"saveSafetensors",
     [](const Args& a) -> Result {
       safetensors::save(a.s(0), a.named(1), a.meta(2));
       return {};
     }},
    {"loadSafetensors", [](const Args& a) -> Result { return Result::load(safetensors::load(a.s(0))); }},
};

}  // namespace

const std::vector<OpImpl>& objectOps() { return rows; }

}  // namespace invdiff::binding
