// Object rows of the op table: tensor properties and autograd, memory and threads, native modules,
// optimizers and safetensors files. The hand-written TypeScript classes call these.
#include <torch/types.h>
#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cstring>
#include <sstream>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "binding/table.h"
#include "core/backend.h"
#include "core/idm/idm.h"
#include "core/memory.h"

namespace invdiff::binding {
namespace {

constexpr auto In = Surface::Internal;

std::string quoteJson(const std::string& s) { return "\"" + s + "\""; }  // only our own identifiers pass here

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
          params, torch::optim::AdamOptions(lr).betas({b1, b2}).eps(eps).weight_decay(weightDecay).amsgrad(o.flag("amsgrad", false)));
    return std::make_shared<torch::optim::AdamW>(
        params, torch::optim::AdamWOptions(lr).betas({b1, b2}).eps(eps).weight_decay(weightDecay).amsgrad(o.flag("amsgrad", false)));
  }
  if (kind == "sgd")
    return std::make_shared<torch::optim::SGD>(params, torch::optim::SGDOptions(lr)
                                                            .momentum(o.number(kind, "momentum", 0))
                                                            .weight_decay(weightDecay)
                                                            .nesterov(o.flag("nesterov", false)));
  throw std::invalid_argument("argument 'kind' expected 'adam', 'adamw' or 'sgd', got '" + kind + "'");
}

const std::vector<OpDef> rows = {
    // ---- handles ----
    {"dispose", "handle:N", "B", In, false, [](const Args& a) -> Result { return tensorHandles().release(static_cast<int64_t>(a.n(0))); },
     "Releases a tensor handle; false if it was already released."},
    {"disposeAll", "handles:D", "N", In, false,
     [](const Args& a) -> Result {
       const at::Tensor h = a.t(0).to(at::kDouble);
       const double* p = h.data_ptr<double>();
       int64_t released = 0;
       for (int64_t i = 0; i < h.numel(); ++i) released += tensorHandles().release(static_cast<int64_t>(p[i]));
       return released;
     },
     "Releases many tensor handles in one call (a Float64Array of handles); returns how many were live."},
    {"isLive", "handle:N", "B", In, false, [](const Args& a) -> Result { return tensorHandles().find(static_cast<int64_t>(a.n(0))) != nullptr; },
     "Whether a tensor handle still refers to a tensor."},

    // ---- tensor properties and autograd ----
    {"shape", "self:T", "Is", In, false, [](const Args& a) -> Result { return a.t(0).sizes().vec(); }, "The sizes."},
    {"dtype", "self:T", "S", In, false, [](const Args& a) -> Result { return dtypeName(a.t(0).scalar_type()); }, "The dtype's name."},
    {"device", "self:T", "S", In, false, [](const Args& a) -> Result { return a.t(0).device().str(); }, "'cpu' or 'cuda:N'."},
    {"numel", "self:T", "N", In, false, [](const Args& a) -> Result { return a.t(0).numel(); }, "The number of elements."},
    {"requiresGrad", "self:T", "B", In, false, [](const Args& a) -> Result { return a.t(0).requires_grad(); }, "Whether autograd tracks it."},
    {"setRequiresGrad", "self:T flag:B", "none", In, false,
     [](const Args& a) -> Result {
       a.t(0).set_requires_grad(a.b(1));
       return {};
     },
     "Starts or stops autograd tracking of a leaf tensor."},
    {"tensorGrad", "self:T", "T", In, false, [](const Args& a) -> Result { return a.t(0).grad(); }, "The accumulated gradient, or null."},
    {"zeroGrad", "self:T", "none", In, false,
     [](const Args& a) -> Result {
       if (a.t(0).grad().defined()) a.t(0).mutable_grad().reset();
       return {};
     },
     "Drops the accumulated gradient."},
    {"backward", "self:T | gradient:T? retainGraph:B=false", "none", In, true,
     [](const Args& a) -> Result {
       if (!a.has(1) && a.t(0).numel() != 1)
         throw std::invalid_argument("backward of a tensor with " + std::to_string(a.t(0).numel()) + " elements needs 'gradient' (only a scalar has an implied one)");
       a.t(0).backward(a.t(1), a.b(2));
       return {};
     },
     "Accumulates gradients of this tensor into the leaves."},
    {"grad", "output:T inputs:Ts | retainGraph:B=false", "Ts", Surface::Function, false,
     [](const Args& a) -> Result {
       if (a.t(0).numel() != 1) throw std::invalid_argument("argument 'output' expected a one-element tensor, got " + std::to_string(a.t(0).numel()) + " elements");
       auto grads = torch::autograd::grad({a.t(0)}, a.ts(1), {}, a.b(2), false, /*allow_unused=*/true);
       for (size_t i = 0; i < grads.size(); ++i)
         if (!grads[i].defined()) grads[i] = at::zeros_like(a.ts(1)[i]);
       return std::vector<at::Tensor>(grads.begin(), grads.end());
     },
     "∂output/∂input for each input, without touching any .grad (zeros for inputs output does not depend on)."},
    {"item", "self:T", "N", In, false, [](const Args& a) -> Result { return a.t(0).item<double>(); }, "The single value as a number."},
    {"data", "self:T", "D", In, false, [](const Args& a) -> Result { return Result::data(a.t(0)); },
     "A copy of the values in a typed array matching the dtype (float16/bfloat16 widen to Float32Array)."},
    {"setGradEnabled", "flag:B", "B", In, false,
     [](const Args& a) -> Result {
       const bool previous = at::GradMode::is_enabled();
       at::GradMode::set_enabled(a.b(0));
       return previous;
     },
     "Turns autograd recording on or off on this thread; returns the previous state."},

    // ---- memory, threads, backend ----
    {"memoryStats", "", "Is", In, false,
     [](const Args&) -> Result {
       const auto cpu = memory::cpu();
       const auto cuda = memory::cuda(0);
       return std::vector<int64_t>{static_cast<int64_t>(tensorHandles().live()), cpu.bytes, cpu.peakBytes, cuda.bytes, cuda.peakBytes, reportedToV8};
     },
     "[live tensor handles, CPU bytes, CPU peak bytes, CUDA bytes, CUDA peak bytes, bytes reported to V8]."},
    {"resetPeakMemory", "", "none", In, false, [](const Args&) -> Result { memory::resetPeak(); return {}; },
     "Starts peak tracking afresh from the current live bytes."},
    {"setNumThreads", "n:I", "none", In, false,
     [](const Args& a) -> Result {
       if (a.i64(0) < 1) throw std::invalid_argument("argument 'n' expected a positive number of threads");
       backend::setNumThreads(static_cast<int>(a.i64(0)));
       return {};
     },
     "Sets LibTorch's intra-op thread count."},
    {"backendInfo", "", "S", In, false,
     [](const Args&) -> Result {
       const auto i = backend::info();
       return "{\"torch\":" + quoteJson(i.torch) + ",\"cuda\":" + (i.cuda ? "true" : "false") + ",\"cudaDevices\":" + std::to_string(i.cudaDevices) +
              ",\"threads\":" + std::to_string(i.threads) + "}";
     },
     "Backend facts as JSON."},

    // ---- modules ----
    {"moduleKinds", "", "S", In, false,
     [](const Args&) -> Result {
       std::string out;
       for (const auto& k : moduleKinds()) out += (out.empty() ? "" : ",") + k;
       return out;
     },
     "The module kinds, comma-separated."},
    {"moduleCreate", "kind:S options:Opt", "M", In, false, [](const Args& a) -> Result { return createModule(a.s(0), a.options(1)); },
     "Builds a native module of a kind."},
    {"moduleForward", "module:M inputs:Ts", "Ts", In, true,
     [](const Args& a) -> Result {
       if (a.ts(1).size() != a.module(0).arity())
         throw std::invalid_argument("argument 'inputs' expected " + std::to_string(a.module(0).arity()) + " tensors, got " + std::to_string(a.ts(1).size()));
       return a.module(0).forward(a.ts(1));
     },
     "Runs the module."},
    {"idmReconstruct", "model:M operator:Op y:T", "T", In, true,
     [](const Args& a) -> Result {
       auto* model = dynamic_cast<idm::Idm*>(&a.module(0));
       if (!model) a.fail(0, "an IDM model (module kind 'idm')");
       return model->reconstruct(a.sharedOp(1), a.t(2));
     },
     "IDM's reconstruction of the images behind measurements y = A x."},
    {"moduleNamedParameters", "module:M", "NT", In, false,
     [](const Args& a) -> Result {
       safetensors::NamedTensors out;
       for (const auto& p : a.module(0).named_parameters()) out.emplace_back(p.key(), p.value());
       return out;
     },
     "[name, parameter] pairs, in registration order."},
    {"moduleLoadState", "module:M state:NT", "none", In, false,
     [](const Args& a) -> Result {
       at::NoGradGuard noGrad;
       auto params = a.module(0).named_parameters();
       for (const auto& [name, value] : a.named(1)) {
         at::Tensor* p = params.find(name);
         if (!p) throw std::invalid_argument("argument 'state' names '" + name + "', which this module does not have");
         if (p->sizes() != value.sizes())
           throw std::invalid_argument("argument 'state' gives '" + name + "' shape " + c10::str(value.sizes()) + ", the module has " + c10::str(p->sizes()));
         p->copy_(value);
       }
       if (a.named(1).size() != params.size())
         throw std::invalid_argument("argument 'state' has " + std::to_string(a.named(1).size()) + " tensors, the module " + std::to_string(params.size()));
       return {};
     },
     "Copies parameter values in by name (all names must match)."},
    {"moduleSetTraining", "module:M flag:B", "none", In, false,
     [](const Args& a) -> Result {
       a.module(0).train(a.b(1));
       return {};
     },
     "train(true) or eval mode."},
    {"moduleIsTraining", "module:M", "B", In, false, [](const Args& a) -> Result { return a.module(0).is_training(); }, "Whether in training mode."},
    {"moduleTo", "module:M | device:S? dtype:S?", "none", In, false,
     [](const Args& a) -> Result {
       Module& m = a.module(0);
       if (a.has(1) && a.has(2)) m.to(parseDevice(a.s(1), "device"), parseDtype(a.s(2), "dtype"));
       else if (a.has(1)) m.to(parseDevice(a.s(1), "device"));
       else if (a.has(2)) m.to(parseDtype(a.s(2), "dtype"));
       return {};
     },
     "Moves parameters to a device and/or dtype."},
    {"moduleDispose", "handle:N", "B", In, false, [](const Args& a) -> Result { return moduleHandles().release(static_cast<int64_t>(a.n(0))); },
     "Releases a module handle."},

    // ---- optimizers ----
    {"optimizerCreate", "kind:S params:Ts options:Opt", "O", In, false,
     [](const Args& a) -> Result { return createOptimizer(a.s(0), a.ts(1), a.options(2)); }, "Adam, AdamW or SGD over parameters."},
    {"optimizerStep", "optimizer:O", "none", In, false,
     [](const Args& a) -> Result {
       at::NoGradGuard noGrad;
       a.optimizer(0).step();
       return {};
     },
     "One update from the accumulated gradients."},
    {"optimizerZeroGrad", "optimizer:O", "none", In, false,
     [](const Args& a) -> Result {
       for (auto& group : a.optimizer(0).param_groups())
         for (auto& p : group.params())
           if (p.grad().defined()) p.mutable_grad().reset();
       return {};
     },
     "Drops every parameter's gradient."},
    {"optimizerLr", "optimizer:O", "N", In, false,
     [](const Args& a) -> Result { return a.optimizer(0).param_groups().at(0).options().get_lr(); }, "The learning rate."},
    {"optimizerSetLr", "optimizer:O lr:N", "none", In, false,
     [](const Args& a) -> Result {
       if (!(a.n(1) > 0) || !std::isfinite(a.n(1))) throw std::invalid_argument("argument 'lr' expected a positive finite number");
       for (auto& group : a.optimizer(0).param_groups()) group.options().set_lr(a.n(1));
       return {};
     },
     "Sets the learning rate of every group."},
    {"optimizerStateBytes", "optimizer:O", "T", In, false,
     [](const Args& a) -> Result {
       // LibTorch's own archive: stable across 1.13 and 2.x, unlike the optimizer's internal state map.
       torch::serialize::OutputArchive archive;
       a.optimizer(0).save(archive);
       std::ostringstream out;
       archive.save_to(out);
       const std::string bytes = out.str();
       at::Tensor t = at::empty({static_cast<int64_t>(bytes.size())}, at::kByte);
       std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
       return t;
     },
     "The optimizer's state (moments, step counts) as a uint8 tensor, for checkpoints."},
    {"optimizerLoadStateBytes", "optimizer:O bytes:T", "none", In, false,
     [](const Args& a) -> Result {
       const at::Tensor bytes = a.t(1).contiguous();
       if (bytes.scalar_type() != at::kByte || bytes.dim() != 1) throw std::invalid_argument("argument 'bytes' expected a 1-D uint8 tensor from optimizerStateBytes");
       std::istringstream in(std::string(static_cast<const char*>(bytes.data_ptr()), bytes.numel()));
       torch::serialize::InputArchive archive;
       archive.load_from(in);
       a.optimizer(0).load(archive);
       return {};
     },
     "Restores state saved by optimizerStateBytes (same parameters, same order)."},
    {"optimizerDispose", "handle:N", "B", In, false,
     [](const Args& a) -> Result { return optimizerHandles().release(static_cast<int64_t>(a.n(0))); }, "Releases an optimizer handle."},
    {"clipGradNorm", "params:Ts maxNorm:N | normType:N=2", "N", In, false,
     [](const Args& a) -> Result {
       if (!(a.n(1) > 0)) throw std::invalid_argument("argument 'maxNorm' expected a positive number");
       return torch::nn::utils::clip_grad_norm_(a.ts(0), a.n(1), a.n(2));
     },
     "Scales gradients so their joint norm is at most maxNorm; returns the norm before clipping."},

    {"emaUpdate", "average:Ts params:Ts decay:N", "none", In, false,
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
     },
     "In place: average ← decay·average + (1 − decay)·params, for an exponential moving average of weights."},
    {"rngState", "", "T", In, false,
     [](const Args&) -> Result {
       auto gen = at::detail::getDefaultCPUGenerator();
       std::lock_guard<std::mutex> lock(gen.mutex());
       return gen.get_state();
     },
     "LibTorch's global CPU generator state (uint8), for checkpoints that resume bit for bit."},
    {"setRngState", "state:T", "none", In, false,
     [](const Args& a) -> Result {
       auto gen = at::detail::getDefaultCPUGenerator();
       std::lock_guard<std::mutex> lock(gen.mutex());
       gen.set_state(a.t(0));
       return {};
     },
     "Restores rngState()."},

    // ---- files ----
    {"saveSafetensors", "path:S tensors:NT | metadata:Meta?", "none", In, true,
     [](const Args& a) -> Result {
       safetensors::save(a.s(0), a.named(1), a.meta(2));
       return {};
     },
     "Writes tensors and string metadata atomically in the safetensors format."},
    {"loadSafetensors", "path:S", "Load", In, true, [](const Args& a) -> Result { return Result::load(safetensors::load(a.s(0))); },
     "Reads a safetensors file: {tensors: [name, Tensor][], metadata}."},
};

}  // namespace

const std::vector<OpDef>& objectOps() { return rows; }

}  // namespace invdiff::binding
