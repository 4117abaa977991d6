// invdiff_bench: the benchmark report's workloads timed on the core library with no Node in the loop, so the
// binding's cost is measured, not guessed. bench/run.js owns the list of workloads; each arrives on stdin
// as one line `KIND key=value ...` (keys op.* are operator options, model.* module options; a value with a
// comma is an integer list, true/false a flag, a number a number, anything else a string).
//   invdiff_bench --serve      one round per line read: {"ms", "peakBytes"} (bench/run.js interleaves the sides)
//   invdiff_bench --rounds N   N rounds per line after a warm-up: {"workload", "medianMs", "minMs", "maxMs", "rounds"}
//   (node bench/run.js --workloads | invdiff_bench --rounds 5: the report's workloads, native only)
//   --device cuda              the workloads' tensors and models on that device (timings synchronise it)
//   invdiff_bench --compare cuda   each line once on the CPU and once on the device from the same seeds:
//                              {"workload", "maxAbs", "relative"} of the outputs (scripts/gpu-check)
// The sampler loops mirror lib/samplers (heun.ts, ddnm.ts) step for step, on the same fused kernels.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/cuda.h>
#include <torch/optim/adam.h>
#include <torch/version.h>

#include "core/backend.h"
#include "core/memory.h"
#include "core/models/idm/idm.h"
#include "core/models/registry.h"
#include "core/safetensors.h"
#include "core/samplers/step.h"

using invdiff::Options;

namespace {

// Where a workload's tensors and models live: inputs are drawn on the CPU (the same numbers on every
// device) and moved there.
at::Device device = at::kCPU;
at::Tensor on(const at::Tensor& t) { return t.to(device); }

struct Workload {
  std::string kind;
  std::map<std::string, std::string> keys;
  Options op, model;

  const std::string& at(const std::string& key) const {
    auto it = keys.find(key);
    if (it == keys.end()) throw std::invalid_argument(kind + ": key '" + key + "' is required");
    return it->second;
  }
  double number(const std::string& key) const { return std::stod(at(key)); }
};

std::vector<int64_t> integers(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream s(text);
  for (std::string part; std::getline(s, part, ',');)
    if (!part.empty()) out.push_back(std::stoll(part));
  return out;
}

void put(Options& o, const std::string& key, const std::string& value) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (value.find(',') != std::string::npos) o.lists[key] = integers(value);
  else if (value == "true" || value == "false") o.flags[key] = value == "true";
  else if (!value.empty() && *end == '\0') o.numbers[key] = v;
  else o.strings[key] = value;
}

Workload parse(const std::string& line) {
  Workload w;
  std::stringstream s(line);
  s >> w.kind;
  for (std::string item; s >> item;) {
    const auto eq = item.find('=');
    if (eq == std::string::npos) throw std::invalid_argument("workload item '" + item + "' is not key=value");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key.rfind("op.", 0) == 0) put(w.op, key.substr(3), value);
    else if (key.rfind("model.", 0) == 0) put(w.model, key.substr(6), value);
    else w.keys[key] = value;
  }
  return w;
}

std::vector<int64_t> imagesShape(const Workload& w) {
  auto shape = integers(w.at("shape"));
  shape.insert(shape.begin(), static_cast<int64_t>(w.number("batch")));
  return shape;
}

std::shared_ptr<invdiff::operators::Operator> makeOperator(const Workload& w) {
  const auto shape = integers(w.at("shape"));
  return invdiff::operators::create(w.at("family"), shape, static_cast<int64_t>(w.number("batch")), 1, 0, w.op);
}

// A module of the workload's kind and options, with the weights of `file` when the workload names one
// (every tensor of the file must be a parameter or buffer of the module, and the other way round).
std::shared_ptr<invdiff::Module> makeModel(const std::string& kind, const Workload& w) {
  auto module = invdiff::createModule(kind, w.model);
  auto file = w.keys.find("file");
  if (file == w.keys.end()) {
    module->to(device);
    return module;
  }
  auto named = module->named_parameters();
  for (const auto& b : module->named_buffers()) named.insert(b.key(), b.value());
  const auto weights = invdiff::safetensors::load(file->second);
  if (weights.tensors.size() != named.size())
    throw std::invalid_argument(file->second + " holds " + std::to_string(weights.tensors.size()) + " tensors, the module " + std::to_string(named.size()));
  at::NoGradGuard noGrad;
  for (const auto& [name, tensor] : weights.tensors) {
    auto* target = named.find(name);
    if (!target) throw std::invalid_argument(file->second + ": no module tensor named '" + name + "'");
    target->copy_(tensor);
  }
  module->to(device);
  return module;
}

// EDM's schedule (eq. 5), as lib/samplers/schedules.ts: σ_i for i < N, then σ_N = 0.
std::vector<double> edmSigmas(int64_t steps, double sigmaMin = 0.002, double sigmaMax = 80, double rho = 7) {
  std::vector<double> t;
  const double a = std::pow(sigmaMax, 1 / rho), b = std::pow(sigmaMin, 1 / rho);
  for (int64_t i = 0; i < steps; i++) t.push_back(std::pow(a + (steps > 1 ? double(i) / (steps - 1) : 0) * (b - a), rho));
  t.push_back(0);
  return t;
}

at::Tensor sigmaOf(double s) { return on(at::full({1}, s)); }

// One call of the workload (after setup): what a round times; it returns what the call computed, which
// --compare checks across devices.
std::function<at::Tensor()> prepare(const Workload& w) {
  using invdiff::samplers::combine;
  using invdiff::samplers::gaussianNoise;
  const invdiff::Context none{};
  if (w.kind == "add") {  // 100 four-element adds, as bench/run.js's TS side runs in one scope
    auto a = on(at::ones({4})), b = on(at::ones({4}));
    return [a, b] {
      at::Tensor c;
      for (int i = 0; i < 100; i++) c = at::add(a, b);
      return c;
    };
  }
  if (w.kind == "matmul") {  // n×n float32 GEMM: the machine's throughput, beside the GEMM-heavy workloads
    const auto n = static_cast<int64_t>(w.number("n"));
    auto a = on(at::randn({n, n})), b = on(at::randn({n, n}));
    return [a, b] { return at::matmul(a, b); };
  }
  if (w.kind == "mlp") {  // one Adam step on the mean squared error
    auto net = invdiff::createModule("mlp", w.model);
    net->to(device);
    const auto sizes = w.model.lists.at("sizes");
    const auto batch = static_cast<int64_t>(w.number("batch"));
    auto x = on(at::randn({batch, sizes.front()})), y = on(at::randn({batch, sizes.back()}));
    auto opt = std::make_shared<torch::optim::Adam>(net->parameters(), torch::optim::AdamOptions(1e-3));
    return [net, x, y, opt] {
      opt->zero_grad();
      const at::Tensor loss = (net->forward({x})[0] - y).pow(2).mean();
      loss.backward();
      opt->step();
      return loss.detach();
    };
  }
  if (w.kind == "operator") {
    auto A = makeOperator(w);
    auto x = on(at::randn(imagesShape(w)));
    auto y = A->forward(x);
    const std::string apply = w.at("apply");
    if (apply == "A") return [A, x] { return A->forward(x); };
    if (apply == "At") return [A, y] { return A->adjoint(y); };
    if (apply == "pinv") return [A, y] { return A->pinv(y); };
    throw std::invalid_argument("operator: apply must be A, At or pinv, got '" + apply + "'");
  }
  if (w.kind == "idm") {  // one Adam step on ‖x̂ − x‖₁
    auto model = std::dynamic_pointer_cast<invdiff::idm::Idm>(makeModel("idm", w));
    auto A = makeOperator(w);
    auto x = on(at::rand(imagesShape(w)));
    auto y = A->forward(x);
    auto opt = std::make_shared<torch::optim::Adam>(model->parameters(), torch::optim::AdamOptions(1e-4));
    return [model, A, x, y, opt] {
      opt->zero_grad();
      const at::Tensor loss = (model->reconstruct(A, y) - x).abs().mean();
      loss.backward();
      opt->step();
      // The loss and the gradient's norm: what the step computed, before the update.
      at::Tensor squares = at::zeros({}, loss.options());
      for (const auto& p : model->parameters())
        if (p.grad().defined()) squares = squares + p.grad().square().sum();
      return at::stack({loss.detach(), squares.sqrt()});
    };
  }
  if (w.kind == "prior") {
    auto model = makeModel("unconditional", w);
    auto x = on(at::randn(imagesShape(w)));
    const auto sigma = sigmaOf(w.number("sigma"));
    return [model, x, sigma, none] {
      at::NoGradGuard g;
      return model->denoise(x, sigma, none);
    };
  }
  if (w.kind == "invfussion") {
    auto model = makeModel("invfussion", w);
    auto A = makeOperator(w);
    auto x = on(at::randn(imagesShape(w)));
    const invdiff::Context context{A, A->forward(on(at::rand(imagesShape(w))))};
    const auto sigma = sigmaOf(w.number("sigma"));
    return [model, x, sigma, context] {
      at::NoGradGuard g;
      return model->denoise(x, sigma, context);
    };
  }
  if (w.kind == "heun") {  // lib/samplers/heun.ts without churn: 2N − 1 NFEs
    auto model = makeModel("unconditional", w);
    const auto shape = imagesShape(w);
    const auto t = edmSigmas(static_cast<int64_t>(w.number("steps")));
    return [model, shape, t, none] {
      at::NoGradGuard g;
      at::Tensor x = gaussianNoise(shape, 0, t[0], at::TensorOptions(at::kFloat).device(device));
      for (size_t i = 0; i + 1 < t.size(); i++) {
        const double h = t[i + 1] - t[i];
        auto d = combine({x, model->denoise(x, sigmaOf(t[i]), none)}, {1 / t[i], -1 / t[i]}, 0, 0);
        auto next = combine({x, d}, {1, h}, 0, 0);
        if (t[i + 1] > 0) {
          auto x0 = model->denoise(next, sigmaOf(t[i + 1]), none);
          next = combine({x, d, next, x0}, {1, h / 2, h / (2 * t[i + 1]), -h / (2 * t[i + 1])}, 0, 0);
        }
        x = next;
      }
      return x;
    };
  }
  if (w.kind == "ddnm") {  // lib/samplers/ddnm.ts, noiseless y, η = 0.85, mixing 'ddnm'
    auto model = makeModel("unconditional", w);
    auto A = makeOperator(w);
    const auto shape = imagesShape(w);
    auto y = A->forward(on(at::rand(shape)));
    const auto t = edmSigmas(static_cast<int64_t>(w.number("steps")));
    const double eta = 0.85;
    return [model, A, y, shape, t, eta, none] {
      at::NoGradGuard g;
      at::Tensor x = gaussianNoise(shape, 0, t[0], at::TensorOptions(at::kFloat).device(device));
      for (size_t i = 0; i + 1 < t.size(); i++) {
        auto x0 = model->denoise(x, sigmaOf(t[i]), none);
        auto x0Prime = A->project(x0, y);
        const double a = std::sqrt(1 - eta * eta) * t[i + 1], c = eta * t[i + 1];
        x = combine({x0Prime, x, x0}, {1, a / t[i], -a / t[i]}, c, i + 1);
      }
      return x;
    };
  }
  throw std::invalid_argument("no workload kind '" + w.kind + "'");
}

// A device runs asynchronously: wait for it on both sides of the clock.
void synchronise() {
  if (device.is_cuda()) torch::cuda::synchronize();
}

double msOf(const std::function<at::Tensor()>& call, int repeats) {
  synchronise();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < repeats; i++) call();
  synchronise();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / repeats;
}

// The workload once on the CPU and once on `other`, each from seed 0: how far the outputs are apart.
std::string compareOn(const Workload& w, at::Device other) {
  std::vector<at::Tensor> out;
  for (at::Device d : {at::Device(at::kCPU), other}) {
    device = d;
    at::manual_seed(0);
    out.push_back(prepare(w)().detach().to(at::kCPU, at::kDouble));
  }
  device = at::kCPU;
  const double maxAbs = (out[0] - out[1]).abs().max().item<double>();
  const double scale = std::max(out[0].abs().max().item<double>(), 1e-30);
  char text[128];
  std::snprintf(text, sizeof text, "\"maxAbs\":%.3g,\"relative\":%.3g", maxAbs, maxAbs / scale);
  return text;
}

// The workload being served, set up on its first line and warmed up once; a round repeats the call until
// it has run for about `targetMs`, as the other sides do, so short calls are not timer noise.
struct Current {
  std::string line;
  std::function<at::Tensor()> call;
  int repeats = 1;
};

void ready(Current& c, const std::string& line, double targetMs) {
  if (c.line == line) return;
  c = Current{};
  c.call = prepare(parse(line));
  c.line = line;
  const double warm = msOf(c.call, 1);
  c.repeats = std::max(1, static_cast<int>(std::ceil(targetMs / std::max(warm, 1e-6))));
}

// One timed round: ms per call and the peak bytes above those live before it.
std::pair<double, int64_t> round(const Current& c) {
  const int64_t before = invdiff::memory::cpu().bytes;
  invdiff::memory::resetPeak();
  const double ms = msOf(c.call, c.repeats);
  return {ms, invdiff::memory::cpu().peakBytes - before};
}

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += static_cast<unsigned char>(ch) < 0x20 ? ' ' : ch;  // LibTorch's messages span lines
  }
  return out + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  bool serve = false;
  int rounds = 5;
  double targetMs = 100;
  bool comparing = false;
  at::Device compareDevice = at::kCPU;
  try {
    for (int i = 1; i < argc; i++) {
      const std::string a = argv[i];
      if (a == "--serve") serve = true;
      else if (a == "--rounds" && i + 1 < argc) rounds = std::atoi(argv[++i]);
      else if (a == "--target-ms" && i + 1 < argc) targetMs = std::atof(argv[++i]);
      else if (a == "--device" && i + 1 < argc) device = at::Device(argv[++i]);
      else if (a == "--compare" && i + 1 < argc) {
        comparing = true;
        compareDevice = at::Device(argv[++i]);
      }
      else throw std::invalid_argument("unknown argument '" + a + "'");
    }
  } catch (const std::exception& e) {
    const auto* torch = dynamic_cast<const c10::Error*>(&e);  // its what() carries a C++ backtrace
    std::fprintf(stderr, "invdiff_bench: %s\nusage: invdiff_bench [--serve] [--rounds N] [--target-ms MS] [--device D] [--compare D] < workloads\n", torch ? torch->what_without_backtrace() : e.what());
    return 2;
  }
  // A device this LibTorch or machine lacks: say so, with its own exit code (scripts/gpu-check skips then).
  for (const at::Device d : {device, compareDevice})
    if (d.is_cuda() && !torch::cuda::is_available()) {
      std::fprintf(stderr, "invdiff_bench: no CUDA device: this LibTorch (%s) was built without CUDA or sees no GPU\n", TORCH_VERSION);
      return 3;
    }
  if (comparing) {
    // Strict float32 on both sides: TF32 would differ from the CPU in the fourth digit by design.
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
  }
  invdiff::memory::install();
  const char* threads = std::getenv("INVDIFF_NUM_THREADS");
  invdiff::backend::setNumThreads(threads ? std::atoi(threads) : 1);
  if (serve) std::printf("{\"torch\":%s,\"threads\":%d}\n", jsonString(TORCH_VERSION).c_str(), invdiff::backend::info().threads);
  std::fflush(stdout);
  Current current;
  for (std::string line; std::getline(std::cin, line);) {
    if (line.empty()) continue;
    try {
      if (comparing) {
        std::printf("{\"workload\":%s,%s}\n", jsonString(line).c_str(), compareOn(parse(line), compareDevice).c_str());
        std::fflush(stdout);
        continue;
      }
      ready(current, line, targetMs);
      if (serve) {
        const auto [ms, peak] = round(current);
        std::printf("{\"ms\":%.6g,\"peakBytes\":%lld}\n", ms, static_cast<long long>(peak));
      } else {
        std::vector<double> times;
        int64_t peak = 0;
        for (int r = 0; r < rounds; r++) {
          const auto [ms, p] = round(current);
          times.push_back(ms);
          peak = std::max(peak, p);
        }
        std::sort(times.begin(), times.end());
        std::printf("{\"workload\":%s,\"medianMs\":%.6g,\"minMs\":%.6g,\"maxMs\":%.6g,\"rounds\":%d,\"peakBytes\":%lld}\n", jsonString(line).c_str(),
                    times[times.size() / 2], times.front(), times.back(), rounds, static_cast<long long>(peak));
      }
    } catch (const std::exception& e) {
      current = Current{};
      std::printf("{\"workload\":%s,\"error\":%s}\n", jsonString(line).c_str(), jsonString(e.what()).c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}
