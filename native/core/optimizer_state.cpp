#include "core/optimizer_state.h"

#include <algorithm>
#include <map>
#include <sstream>
#include <stdexcept>
#include <type_traits>

#include <torch/optim/adam.h>
#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

namespace invdiff::optim {
namespace {

using Fields = std::map<std::string, at::Tensor>;
using ParamState = torch::optim::OptimizerParamState;

// LibTorch keys the state by each parameter's TensorImpl: its address printed into a string in 1.13
// (c10::guts::to_string, an ostream of the pointer), the address itself from 2.0 on.
template <typename Key>
Key keyOf(const at::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream s;
    s << p.unsafeGetTensorImpl();
    return s.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

// Adam and AdamW keep the same fields in two unrelated state classes.
template <typename S>
Fields adamFields(const ParamState& state) {
  const auto& s = static_cast<const S&>(state);
  Fields f{{"step", at::scalar_tensor(s.step(), at::kLong)}, {"exp_avg", s.exp_avg()}, {"exp_avg_sq", s.exp_avg_sq()}};
  if (s.max_exp_avg_sq().defined()) f.emplace("max_exp_avg_sq", s.max_exp_avg_sq());
  return f;
}
template <typename S>
std::unique_ptr<ParamState> adamState(const Fields& f) {
  auto s = std::make_unique<S>();
  s->step(f.at("step").item<int64_t>());
  s->exp_avg(f.at("exp_avg"));
  s->exp_avg_sq(f.at("exp_avg_sq"));
  if (const auto it = f.find("max_exp_avg_sq"); it != f.end()) s->max_exp_avg_sq(it->second);
  return s;
}

Fields sgdFields(const ParamState& state) {
  const auto& s = static_cast<const torch::optim::SGDParamState&>(state);
  Fields f;
  if (s.momentum_buffer().defined()) f.emplace("momentum_buffer", s.momentum_buffer());
  return f;
}
std::unique_ptr<ParamState> sgdState(const Fields& f) {
  auto s = std::make_unique<torch::optim::SGDParamState>();
  s->momentum_buffer(f.at("momentum_buffer"));
  return s;
}

// What one parameter's state holds under this optimizer and group options.
struct Layout {
  const char* optimizer;
  std::vector<std::string> fields;
  Fields (*read)(const ParamState&);
  std::unique_ptr<ParamState> (*make)(const Fields&);
};

Layout layoutOf(torch::optim::Optimizer& o, torch::optim::OptimizerParamGroup& group) {
  std::vector<std::string> adam = {"step", "exp_avg", "exp_avg_sq"};
  if (dynamic_cast<torch::optim::Adam*>(&o)) {
    if (static_cast<torch::optim::AdamOptions&>(group.options()).amsgrad()) adam.emplace_back("max_exp_avg_sq");
    return {"adam", adam, adamFields<torch::optim::AdamParamState>, adamState<torch::optim::AdamParamState>};
  }
  if (dynamic_cast<torch::optim::AdamW*>(&o)) {
    if (static_cast<torch::optim::AdamWOptions&>(group.options()).amsgrad()) adam.emplace_back("max_exp_avg_sq");
    return {"adamw", adam, adamFields<torch::optim::AdamWParamState>, adamState<torch::optim::AdamWParamState>};
  }
  if (dynamic_cast<torch::optim::SGD*>(&o)) {
    std::vector<std::string> sgd;
    if (static_cast<torch::optim::SGDOptions&>(group.options()).momentum() != 0) sgd.emplace_back("momentum_buffer");
    return {"sgd", sgd, sgdFields, sgdState};
  }
  throw std::invalid_argument("optimizer state: not an Adam, AdamW or SGD optimizer");
}

std::string describe(const at::Tensor& t) { return c10::str(t.scalar_type(), t.sizes()); }

[[noreturn]] void refuse(const std::string& name, const std::string& why) {
  throw std::invalid_argument("argument 'state' entry '" + name + "' " + why);
}

// The parameter index of "<index>.<field>": decimal digits without a leading zero.
size_t indexOf(const std::string& name, size_t dot) {
  const std::string digits = name.substr(0, dot);
  const bool number = !digits.empty() && digits.size() <= 9 && std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                      (digits.size() == 1 || digits[0] != '0');
  if (dot == std::string::npos || !number) refuse(name, "is not named '<parameter index>.<field>'");
  return std::stoul(digits);
}

void checkValues(const std::string& name, const std::string& field, const at::Tensor& t, const at::Tensor& param) {
  if (field == "step") {
    if (t.scalar_type() != at::kLong || t.numel() != 1) refuse(name, "must be an int64 scalar (a step count), got " + describe(t));
    const int64_t step = t.item<int64_t>();
    if (step < 0 || step > (int64_t(1) << 53)) refuse(name, "holds the step count " + std::to_string(step) + ", outside [0, 2^53]");
    return;
  }
  if (t.scalar_type() != param.scalar_type() || !t.sizes().equals(param.sizes()))
    refuse(name, "is " + describe(t) + ", its parameter " + describe(param));
  // Second moments feed a square root: a negative one would turn the parameter into NaN without a word.
  const bool square = field == "exp_avg_sq" || field == "max_exp_avg_sq";
  at::Tensor ok = at::isfinite(t);
  if (square) ok = ok.logical_and(t >= 0);
  if (!ok.all().item<bool>()) refuse(name, square ? "holds negative or non-finite values (a second moment is finite and ≥ 0)" : "holds non-finite values");
}

}  // namespace

safetensors::NamedTensors state(torch::optim::Optimizer& optimizer) {
  auto& map = optimizer.state();
  using Key = typename std::decay_t<decltype(map)>::key_type;
  safetensors::NamedTensors out;
  size_t index = 0;
  for (auto& group : optimizer.param_groups()) {
    const Layout layout = layoutOf(optimizer, group);
    for (const auto& p : group.params()) {
      if (const auto it = map.find(keyOf<Key>(p)); it != map.end())
        for (auto& [field, t] : layout.read(*it->second)) out.emplace_back(std::to_string(index) + "." + field, t);
      ++index;
    }
  }
  return out;
}

void loadState(torch::optim::Optimizer& optimizer, const safetensors::NamedTensors& given) {
  struct Target {
    at::Tensor param;
    Layout layout;
    Fields fields;
  };
  std::vector<Target> targets;
  for (auto& group : optimizer.param_groups()) {
    const Layout layout = layoutOf(optimizer, group);
    for (const auto& p : group.params()) targets.push_back({p, layout, {}});
  }

  // Everything is checked before the optimizer is touched.
  for (const auto& [name, t] : given) {
    const size_t dot = name.find('.');
    const size_t index = indexOf(name, dot);
    if (index >= targets.size()) refuse(name, "names parameter " + std::to_string(index) + "; the optimizer has " + std::to_string(targets.size()));
    Target& target = targets[index];
    const std::string field = name.substr(dot + 1);
    const auto& allowed = target.layout.fields;
    if (std::find(allowed.begin(), allowed.end(), field) == allowed.end()) {
      std::string list;
      for (const auto& f : allowed) list += (list.empty() ? "'" : ", '") + f + "'";
      refuse(name, "is not a field " + std::string(target.layout.optimizer) + " keeps with these options (" + (list.empty() ? "it keeps none" : list) + ")");
    }
    if (!t.defined()) refuse(name, "is not a tensor");
    if (!target.fields.emplace(field, t).second) refuse(name, "appears twice");
    checkValues(name, field, t, target.param);
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    const Target& target = targets[i];
    if (target.fields.empty()) continue;
    for (const auto& field : target.layout.fields)
      if (!target.fields.count(field))
        refuse(std::to_string(i) + "." + field, "is missing (parameter " + std::to_string(i) + " has other fields, so it needs all of them)");
  }

  // Copies on the parameter's device and in its layout, so the state never aliases the caller's tensors.
  auto& map = optimizer.state();
  using Key = typename std::decay_t<decltype(map)>::key_type;
  std::vector<std::pair<Key, std::unique_ptr<ParamState>>> built;
  at::NoGradGuard noGrad;
  for (const Target& target : targets) {
    if (target.fields.empty()) continue;
    Fields copies;
    for (const auto& [field, t] : target.fields) copies.emplace(field, field == "step" ? t.cpu() : at::empty_like(target.param).copy_(t));
    built.emplace_back(keyOf<Key>(target.param), target.layout.make(copies));
  }
  map.clear();
  for (auto& [key, s] : built) map[key] = std::move(s);
}

}  // namespace invdiff::optim
