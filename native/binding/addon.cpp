// The N-API glue: registers every row of the op tables as a JS function, converts arguments and results,
// maps C++ exceptions to JS errors, and runs async rows on libuv's worker pool.
#include <napi.h>

#include <cmath>
#include <deque>
#include <sstream>
#include <unordered_set>

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "binding/handles.h"
#include "binding/table.h"
#include "core/memory.h"

namespace invdiff::binding {

HandleTable<at::Tensor>& tensorHandles() {
  static HandleTable<at::Tensor> table;
  return table;
}
HandleTable<std::shared_ptr<Module>>& moduleHandles() {
  static HandleTable<std::shared_ptr<Module>> table;
  return table;
}
HandleTable<std::shared_ptr<torch::optim::Optimizer>>& optimizerHandles() {
  static HandleTable<std::shared_ptr<torch::optim::Optimizer>> table;
  return table;
}
HandleTable<std::shared_ptr<operators::Operator>>& operatorHandles() {
  static HandleTable<std::shared_ptr<operators::Operator>> table;
  return table;
}

namespace {

// An argument error: thrown as a JS TypeError whose message names the op and the argument.
struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Entry {
  const OpDef* def;
  std::vector<ArgSpec> specs;
};

Kind kindFromSpec(const std::string& k, const std::string& op) {
  static const std::pair<const char*, Kind> kinds[] = {
      {"T", Kind::Tensor}, {"TS", Kind::TensorOrScalar}, {"N", Kind::Number}, {"I", Kind::Integer},
      {"B", Kind::Bool},   {"Is", Kind::Ints},           {"Ns", Kind::Numbers},        {"Ts", Kind::Tensors}, {"S", Kind::String},
      {"D", Kind::Data},   {"M", Kind::Module},          {"O", Kind::Optimizer}, {"Op", Kind::Operator}, {"Opt", Kind::Options},
      {"NT", Kind::Named}, {"Meta", Kind::Meta}};
  for (const auto& [name, kind] : kinds)
    if (k == name) return kind;
  throw std::logic_error("op table: " + op + " has unknown argument kind '" + k + "'");
}

std::vector<ArgSpec> parseSpec(const OpDef& def) {
  std::vector<ArgSpec> specs;
  std::istringstream in(def.args);
  std::string token;
  while (in >> token) {
    if (token == "|") continue;  // only TypeScript groups the options
    ArgSpec s;
    const auto colon = token.find(':');
    if (colon == std::string::npos) throw std::logic_error(std::string("op table: bad spec token in ") + def.name);
    s.name = token.substr(0, colon);
    std::string kind = token.substr(colon + 1);
    const auto eq = kind.find('=');
    if (eq != std::string::npos) {
      s.hasDefault = s.optional = true;
      s.fallback = kind.substr(eq + 1);
      kind = kind.substr(0, eq);
    }
    if (!kind.empty() && kind.back() == '?') {
      s.optional = true;
      kind.pop_back();
    }
    s.kind = kindFromSpec(kind, def.name);
    specs.push_back(std::move(s));
  }
  return specs;
}

// ---- reading JS values ----------------------------------------------------------------------------

napi_valuetype typeOf(napi_env env, napi_value v) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  return t;
}

bool isArray(napi_env env, napi_value v) {
  bool r = false;
  napi_is_array(env, v, &r);
  return r;
}

std::string stringOf(napi_env env, napi_value v) {
  size_t n = 0;
  napi_get_value_string_utf8(env, v, nullptr, 0, &n);
  std::string s(n, '\0');
  napi_get_value_string_utf8(env, v, s.data(), n + 1, &n);
  return s;
}

double numberOf(napi_env env, napi_value v) {
  double d = 0;
  napi_get_value_double(env, v, &d);
  return d;
}

// How a bad value is shown in an error. The TS layer passes a description string where it found a
// non-Tensor in a tensor position, so the message can say what the caller really passed.
std::string describe(napi_env env, napi_value v) {
  switch (typeOf(env, v)) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: {
      bool b;
      napi_get_value_bool(env, v, &b);
      return b ? "true" : "false";
    }
    case napi_number: {
      std::ostringstream o;
      o << numberOf(env, v);
      return "the number " + o.str();
    }
    case napi_string: {
      std::string s = stringOf(env, v);
      return s.size() > 60 ? "'" + s.substr(0, 60) + "...'" : "'" + s + "'";
    }
    case napi_object: return isArray(env, v) ? "an array" : "an object";
    case napi_function: return "a function";
    default: return "a value of another type";
  }
}

int64_t handleOf(napi_env env, napi_value v) {
  double d = numberOf(env, v);
  if (!(d >= 0) || d != std::floor(d)) return -1;
  return static_cast<int64_t>(d);
}

const at::Tensor& tensorFrom(napi_env env, napi_value v, const Args& a, size_t i, napi_valuetype t) {
  if (t == napi_string) a.fail(i, "a Tensor, got " + stringOf(env, v));  // TS passes a description
  if (t != napi_number) a.fail(i, "a Tensor, got " + describe(env, v));
  const at::Tensor* found = tensorHandles().find(handleOf(env, v));
  if (!found) a.fail(i, "a live Tensor, got a disposed one");
  return *found;
}

void setTensor(Arg& out, const at::Tensor& t, bool own) {
  if (own) out.tensor = t;
  else out.borrowed = &t;
  out.isTensor = true;
}

int64_t integerFrom(napi_env env, napi_value v, const Args& a, size_t i, const char* what) {
  if (typeOf(env, v) != napi_number) a.fail(i, std::string(what) + ", got " + describe(env, v));
  const double d = numberOf(env, v);
  if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9007199254740991.0)
    a.fail(i, std::string(what) + ", got " + describe(env, v));
  return static_cast<int64_t>(d);
}

at::Tensor dataFrom(napi_env env, napi_value v, const Args& a, size_t i) {
  bool typed = false;
  napi_is_typedarray(env, v, &typed);
  if (typed) {
    napi_typedarray_type type;
    size_t length;
    void* data;
    napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr);
    at::ScalarType st;
    switch (type) {
      case napi_float32_array: st = at::kFloat; break;
      case napi_float64_array: st = at::kDouble; break;
      case napi_int32_array: st = at::kInt; break;
      case napi_int16_array: st = at::kShort; break;
      case napi_int8_array: st = at::kChar; break;
      case napi_uint8_array: case napi_uint8_clamped_array: st = at::kByte; break;
      case napi_bigint64_array: st = at::kLong; break;
      default: a.fail(i, "a Float32Array, Float64Array, Int32Array, Int16Array, Int8Array, Uint8Array or BigInt64Array");
    }
    return at::from_blob(data, {static_cast<int64_t>(length)}, at::TensorOptions().dtype(st)).clone();
  }
  if (!isArray(env, v)) a.fail(i, "a typed array or an array of numbers, got " + describe(env, v));
  uint32_t n = 0;
  napi_get_array_length(env, v, &n);
  // JS numbers are doubles: read them exactly; the factory converts to the dtype asked for.
  at::Tensor out = at::empty({static_cast<int64_t>(n)}, at::kDouble);
  double* p = out.data_ptr<double>();
  for (uint32_t k = 0; k < n; ++k) {
    napi_value e;
    napi_get_element(env, v, k, &e);
    if (typeOf(env, e) != napi_number) a.fail(i, "an array of numbers, but element " + std::to_string(k) + " is " + describe(env, e));
    p[k] = numberOf(env, e);
  }
  return out;
}

Options optionsFrom(napi_env env, napi_value v, const Args& a, size_t i) {
  Options o;
  if (typeOf(env, v) == napi_undefined) return o;
  if (typeOf(env, v) != napi_object || isArray(env, v)) a.fail(i, "an options object, got " + describe(env, v));
  napi_value keys;
  napi_get_property_names(env, v, &keys);
  uint32_t n = 0;
  napi_get_array_length(env, keys, &n);
  for (uint32_t k = 0; k < n; ++k) {
    napi_value key, value;
    napi_get_element(env, keys, k, &key);
    napi_get_property(env, v, key, &value);
    const std::string name = stringOf(env, key);
    switch (typeOf(env, value)) {
      case napi_number: o.numbers[name] = numberOf(env, value); break;
      case napi_boolean: {
        bool b;
        napi_get_value_bool(env, value, &b);
        o.flags[name] = b;
        break;
      }
      case napi_string: o.strings[name] = stringOf(env, value); break;
      case napi_undefined: break;
      default: {
        if (!isArray(env, value)) a.fail(i, "options whose '" + name + "' is a number, boolean, string or integer list");
        uint32_t m = 0;
        napi_get_array_length(env, value, &m);
        auto& list = o.lists[name];
        for (uint32_t j = 0; j < m; ++j) {
          napi_value e;
          napi_get_element(env, value, j, &e);
          list.push_back(integerFrom(env, e, a, i, ("an integer list in option '" + name + "'").c_str()));
        }
      }
    }
  }
  return o;
}

std::vector<int64_t> intsFromDefault(const std::string& text) {
  std::vector<int64_t> out;
  std::istringstream in(text);
  std::string part;
  while (std::getline(in, part, ',')) out.push_back(std::stoll(part));
  return out;
}

// Fills a.values from the JS arguments; a TensorOrScalar takes two JS slots (value, isTensor).
void readArgs(napi_env env, const Entry& e, napi_value* argv, size_t argc, Args& a, bool own) {
  a.specs = &e.specs;
  a.values.resize(e.specs.size());
  size_t js = 0;
  napi_value undef;
  napi_get_undefined(env, &undef);
  for (size_t i = 0; i < e.specs.size(); ++i) {
    const ArgSpec& s = e.specs[i];
    Arg& out = a.values[i];
    napi_value v = js < argc ? argv[js] : undef;
    ++js;
    const napi_valuetype t = typeOf(env, v);
    if (t == napi_undefined || (t == napi_null && s.optional)) {
      if (s.kind == Kind::TensorOrScalar) ++js;
      if (!s.optional) a.fail(i, "a value (it is required)");
      if (!s.hasDefault) continue;
      out.present = true;
      switch (s.kind) {
        case Kind::Number: case Kind::Integer: out.number = std::stod(s.fallback); break;
        case Kind::Bool: out.number = s.fallback == "true"; break;
        case Kind::Ints: out.ints = intsFromDefault(s.fallback); break;
        case Kind::String: out.string = s.fallback; break;
        case Kind::TensorOrScalar: out.number = std::stod(s.fallback); break;
        default: break;
      }
      continue;
    }
    out.present = true;
    switch (s.kind) {
      case Kind::Tensor: setTensor(out, tensorFrom(env, v, a, i, t), own); break;
      case Kind::TensorOrScalar: {
        bool isTensor = false;
        if (js < argc) napi_get_value_bool(env, argv[js], &isTensor);
        ++js;
        if (isTensor) {
          if (t == napi_string) a.fail(i, "a Tensor or a number, got " + stringOf(env, v));
          setTensor(out, tensorFrom(env, v, a, i, t), own);
        } else {
          if (t != napi_number) a.fail(i, "a Tensor or a number, got " + (t == napi_string ? stringOf(env, v) : describe(env, v)));
          out.number = numberOf(env, v);
        }
        break;
      }
      case Kind::Number:
        if (t != napi_number) a.fail(i, "a number, got " + describe(env, v));
        out.number = numberOf(env, v);
        break;
      case Kind::Integer: out.number = static_cast<double>(integerFrom(env, v, a, i, "an integer")); break;
      case Kind::Bool: {
        if (t != napi_boolean) a.fail(i, "a boolean, got " + describe(env, v));
        bool b;
        napi_get_value_bool(env, v, &b);
        out.number = b;
        break;
      }
      case Kind::Ints: {
        if (t == napi_number) {
          out.ints = {integerFrom(env, v, a, i, "an integer or a list of integers")};
          break;
        }
        if (!isArray(env, v)) a.fail(i, "an integer or a list of integers, got " + describe(env, v));
        uint32_t n = 0;
        napi_get_array_length(env, v, &n);
        out.ints.reserve(n);
        for (uint32_t k = 0; k < n; ++k) {
          napi_value el;
          napi_get_element(env, v, k, &el);
          out.ints.push_back(integerFrom(env, el, a, i, ("a list of integers, element " + std::to_string(k)).c_str()));
        }
        break;
      }
      case Kind::Numbers: {
        if (!isArray(env, v)) a.fail(i, "a list of numbers, got " + describe(env, v));
        uint32_t n = 0;
        napi_get_array_length(env, v, &n);
        auto& numbers = out.more().numbers;
        numbers.reserve(n);
        for (uint32_t k = 0; k < n; ++k) {
          napi_value el;
          napi_get_element(env, v, k, &el);
          if (typeOf(env, el) != napi_number) a.fail(i, "a list of numbers, element " + std::to_string(k) + " is " + describe(env, el));
          numbers.push_back(numberOf(env, el));
        }
        break;
      }
      case Kind::Tensors: {
        if (!isArray(env, v)) a.fail(i, "an array of Tensors, got " + describe(env, v));
        uint32_t n = 0;
        napi_get_array_length(env, v, &n);
        for (uint32_t k = 0; k < n; ++k) {
          napi_value el;
          napi_get_element(env, v, k, &el);
          out.tensors.push_back(tensorFrom(env, el, a, i, typeOf(env, el)));
        }
        break;
      }
      case Kind::String:
        if (t != napi_string) a.fail(i, "a string, got " + describe(env, v));
        out.string = stringOf(env, v);
        break;
      case Kind::Data:
        out.tensor = dataFrom(env, v, a, i);
        out.fromArray = isArray(env, v);
        break;
      case Kind::Module: {
        auto* m = t == napi_number ? moduleHandles().find(handleOf(env, v)) : nullptr;
        if (!m) a.fail(i, "a live Module, got " + (t == napi_number ? std::string("a disposed one") : describe(env, v)));
        out.more().module = *m;
        break;
      }
      case Kind::Optimizer: {
        auto* o = t == napi_number ? optimizerHandles().find(handleOf(env, v)) : nullptr;
        if (!o) a.fail(i, "a live Optimizer, got " + (t == napi_number ? std::string("a disposed one") : describe(env, v)));
        out.more().optimizer = *o;
        break;
      }
      case Kind::Operator: {
        auto* o = t == napi_number ? operatorHandles().find(handleOf(env, v)) : nullptr;
        if (!o) a.fail(i, "a live Operator, got " + (t == napi_number ? std::string("a disposed one") : describe(env, v)));
        out.more().op = *o;
        break;
      }
      case Kind::Options: out.more().options = optionsFrom(env, v, a, i); break;
      case Kind::Named: {
        if (!isArray(env, v)) a.fail(i, "an array of [name, Tensor] pairs");
        out.more();  // an empty list still has its (empty) payload
        uint32_t n = 0;
        napi_get_array_length(env, v, &n);
        for (uint32_t k = 0; k < n; ++k) {
          napi_value pair, name, tensor;
          napi_get_element(env, v, k, &pair);
          if (!isArray(env, pair)) a.fail(i, "an array of [name, Tensor] pairs");
          napi_get_element(env, pair, 0, &name);
          napi_get_element(env, pair, 1, &tensor);
          if (typeOf(env, name) != napi_string) a.fail(i, "[name, Tensor] pairs whose names are strings");
          out.more().named.emplace_back(stringOf(env, name), tensorFrom(env, tensor, a, i, typeOf(env, tensor)));
        }
        break;
      }
      case Kind::Meta: {
        Options o = optionsFrom(env, v, a, i);
        if (!o.numbers.empty() || !o.flags.empty() || !o.lists.empty()) a.fail(i, "an object of string values");
        out.more().meta.insert(o.strings.begin(), o.strings.end());
        break;
      }
    }
  }
}

// ---- writing JS values ----------------------------------------------------------------------------

napi_value number(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

napi_value string(napi_env env, const std::string& s) {
  napi_value v;
  napi_create_string_utf8(env, s.data(), s.size(), &v);
  return v;
}

napi_value tensorValue(napi_env env, at::Tensor t) {
  if (!t.defined()) {
    napi_value v;
    napi_get_null(env, &v);
    return v;
  }
  return number(env, static_cast<double>(tensorHandles().add(std::move(t))));
}

napi_value tensorList(napi_env env, const std::vector<at::Tensor>& ts) {
  napi_value arr;
  napi_create_array_with_length(env, ts.size(), &arr);
  for (size_t k = 0; k < ts.size(); ++k) napi_set_element(env, arr, k, tensorValue(env, ts[k]));
  return arr;
}

napi_value namedList(napi_env env, const safetensors::NamedTensors& named) {
  napi_value arr;
  napi_create_array_with_length(env, named.size(), &arr);
  for (size_t k = 0; k < named.size(); ++k) {
    napi_value pair;
    napi_create_array_with_length(env, 2, &pair);
    napi_set_element(env, pair, 0, string(env, named[k].first));
    napi_set_element(env, pair, 1, tensorValue(env, named[k].second));
    napi_set_element(env, arr, k, pair);
  }
  return arr;
}

napi_value typedArray(napi_env env, at::Tensor t) {
  t = t.detach().to(at::kCPU);
  if (t.scalar_type() == at::kHalf || t.scalar_type() == at::kBFloat16) t = t.to(at::kFloat);
  if (t.scalar_type() == at::kBool) t = t.to(at::kByte);
  t = t.contiguous();
  napi_typedarray_type type;
  switch (t.scalar_type()) {
    case at::kFloat: type = napi_float32_array; break;
    case at::kDouble: type = napi_float64_array; break;
    case at::kInt: type = napi_int32_array; break;
    case at::kShort: type = napi_int16_array; break;
    case at::kChar: type = napi_int8_array; break;
    case at::kByte: type = napi_uint8_array; break;
    case at::kLong: type = napi_bigint64_array; break;
    default: throw std::invalid_argument("cannot copy dtype " + dtypeName(t.scalar_type()) + " into a typed array");
  }
  void* data = nullptr;
  napi_value buffer, out;
  napi_create_arraybuffer(env, t.nbytes(), &data, &buffer);
  if (t.nbytes()) std::memcpy(data, t.data_ptr(), t.nbytes());
  napi_create_typedarray(env, type, static_cast<size_t>(t.numel()), buffer, 0, &out);
  return out;
}

napi_value toJs(napi_env env, Result& r) {
  napi_value v;
  switch (r.kind) {
    case ResultKind::None: napi_get_undefined(env, &v); return v;
    case ResultKind::Tensor: return tensorValue(env, std::move(r.tensor));
    case ResultKind::Tensors: return tensorList(env, r.tensors);
    case ResultKind::Number: return number(env, r.number);
    case ResultKind::Bool: napi_get_boolean(env, r.number != 0, &v); return v;
    case ResultKind::Ints: {
      napi_create_array_with_length(env, r.ints.size(), &v);
      for (size_t k = 0; k < r.ints.size(); ++k) napi_set_element(env, v, k, number(env, static_cast<double>(r.ints[k])));
      return v;
    }
    case ResultKind::String: return string(env, r.string);
    case ResultKind::Data: return typedArray(env, r.tensor);
    case ResultKind::Module: return number(env, static_cast<double>(moduleHandles().add(r.extra->module)));
    case ResultKind::Optimizer: return number(env, static_cast<double>(optimizerHandles().add(r.extra->optimizer)));
    case ResultKind::Operator: return number(env, static_cast<double>(operatorHandles().add(r.extra->op)));
    case ResultKind::Named: return namedList(env, r.extra->named);
    case ResultKind::Load: {
      napi_value meta;
      napi_create_object(env, &v);
      napi_create_object(env, &meta);
      for (const auto& [key, value] : r.extra->meta) napi_set_named_property(env, meta, key.c_str(), string(env, value));
      napi_set_named_property(env, v, "tensors", namedList(env, r.extra->named));
      napi_set_named_property(env, v, "metadata", meta);
      return v;
    }
  }
  napi_get_undefined(env, &v);
  return v;
}

// ---- errors ---------------------------------------------------------------------------------------

std::string cleanTorchMessage(const std::string& m) {
  std::string out = m;
  const auto raised = out.find("\nException raised from");
  if (raised != std::string::npos) out.erase(raised);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// "matmul(self: float32[2, 3], other: float32[4, 5])": what the failing call was given.
std::string callSignature(const Entry& e, const Args& a) {
  std::ostringstream o;
  o << e.def->name << '(';
  for (size_t i = 0; i < a.values.size(); ++i) {
    const Arg& v = a.values[i];
    if (i) o << ", ";
    o << e.specs[i].name << ": ";
    if (!v.present) o << "-";
    else if (v.isTensor) o << dtypeName(v.get().scalar_type()) << v.get().sizes() << (v.get().is_cuda() ? " cuda" : "");
    else if (e.specs[i].kind == Kind::Ints) o << c10::IntArrayRef(v.ints);
    else if (e.specs[i].kind == Kind::Tensors) o << v.tensors.size() << " tensors";
    else if (e.specs[i].kind == Kind::Numbers) o << v.extra->numbers.size() << " numbers";
    else if (e.specs[i].kind == Kind::String) o << "'" << v.string << "'";
    else if (e.specs[i].kind == Kind::Number || e.specs[i].kind == Kind::Integer || e.specs[i].kind == Kind::TensorOrScalar) o << v.number;
    else if (e.specs[i].kind == Kind::Bool) o << (v.number ? "true" : "false");
    else o << "...";
  }
  o << ')';
  return o.str();
}

template <class F>
std::string runCatching(F&& f, const Entry& e, const Args& a) {
  try {
    f();
    return {};
  } catch (const c10::Error& err) {
    return callSignature(e, a) + ": " + cleanTorchMessage(err.what_without_backtrace());
  } catch (const std::bad_alloc&) {
    return callSignature(e, a) + ": out of memory";
  } catch (const std::exception& err) {
    return callSignature(e, a) + ": " + cleanTorchMessage(err.what());
  }
}

}  // namespace

// V8 learns of native bytes in 4 MiB steps, so the GC weighs tensors without a call per allocation.
int64_t reportedToV8 = 0;
void reportExternalMemory(napi_env env) {
  const int64_t now = memory::cpu().bytes;
  if (std::llabs(now - reportedToV8) < (int64_t(4) << 20)) return;
  int64_t total;
  if (napi_adjust_external_memory(env, now - reportedToV8, &total) == napi_ok) reportedToV8 = now;
}

namespace {

// Reads a call's arguments into a; on bad input throws a JS TypeError and returns null.
const Entry* readCall(napi_env env, napi_callback_info info, Args& a, bool own) {
  size_t argc = 16;
  napi_value argv[16];
  void* data;
  napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
  const Entry& e = *static_cast<const Entry*>(data);
  try {
    readArgs(env, e, argv, argc, a, own);
  } catch (const ArgError& err) {
    napi_throw_type_error(env, "ERR_INVDIFF_ARGUMENT", (std::string(e.def->name) + ": " + err.what()).c_str());
    return nullptr;
  }
  return &e;
}

napi_value dispatch(napi_env env, napi_callback_info info) {
  Args a;
  const Entry* entry = readCall(env, info, a, /*own=*/false);
  if (!entry) return nullptr;
  const Entry& e = *entry;
  Result r;
  const std::string error = runCatching([&] { r = e.def->fn(a); }, e, a);  // Result moves cheaply: rare parts sit behind one pointer
  if (!error.empty()) {
    napi_throw_error(env, "ERR_INVDIFF_NATIVE", error.c_str());
    return nullptr;
  }
  napi_value out = nullptr;
  const std::string convertError = runCatching([&] { out = toJs(env, r); }, e, a);
  if (!convertError.empty()) {
    napi_throw_error(env, "ERR_INVDIFF_NATIVE", convertError.c_str());
    return nullptr;
  }
  reportExternalMemory(env);
  return out;
}

// Runs an op body on libuv's pool. Grad mode is thread-local, so the caller's is carried over.
class OpWorker final : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, const Entry& e, Args args)
      : Napi::AsyncWorker(env, e.def->name), deferred_(Napi::Promise::Deferred::New(env)), entry_(e),
        args_(std::move(args)), grad_(at::GradMode::is_enabled()), threads_(at::get_num_threads()) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    at::AutoGradMode mode(grad_);
    if (at::get_num_threads() != threads_) at::set_num_threads(threads_);
    const std::string error = runCatching([&] { result_ = entry_.def->fn(args_); }, entry_, args_);
    if (!error.empty()) SetError(error);
  }
  void OnOK() override {
    napi_value v = nullptr;
    const std::string error = runCatching([&] { v = toJs(Env(), result_); }, entry_, args_);
    if (!error.empty()) deferred_.Reject(Napi::Error::New(Env(), error).Value());
    else deferred_.Resolve(Napi::Value(Env(), v));
    reportExternalMemory(Env());
  }
  void OnError(const Napi::Error& err) override { deferred_.Reject(err.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  const Entry& entry_;
  Args args_;
  Result result_;
  bool grad_;
  int threads_;
};

napi_value dispatchAsync(napi_env env, napi_callback_info info) {
  Args a;
  const Entry* entry = readCall(env, info, a, /*own=*/true);
  if (!entry) return nullptr;
  auto* worker = new OpWorker(Napi::Env(env), *entry, std::move(a));
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

const char* surfaceName(Surface s) {
  switch (s) {
    case Surface::Method: return "method";
    case Surface::Function: return "function";
    default: return "internal";
  }
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  memory::install();
  static std::deque<Entry> entries;  // stable addresses: each JS function holds a pointer to its row
  std::unordered_set<std::string> seen;
  Napi::Array meta = Napi::Array::New(env);
  for (const auto* table : {&tensorOps(), &objectOps(), &operatorOps()}) {
    for (const OpDef& def : *table) {
      if (!seen.insert(def.name).second) throw std::logic_error(std::string("op table: duplicate op ") + def.name);
      entries.push_back({&def, parseSpec(def)});
      Entry* e = &entries.back();
      napi_value fn;
      napi_create_function(env, def.name, NAPI_AUTO_LENGTH, dispatch, e, &fn);
      exports.Set(def.name, Napi::Value(env, fn));
      if (def.async) {
        const std::string asyncName = std::string(def.name) + "$async";
        napi_create_function(env, asyncName.c_str(), NAPI_AUTO_LENGTH, dispatchAsync, e, &fn);
        exports.Set(asyncName, Napi::Value(env, fn));
      }
      Napi::Object row = Napi::Object::New(env);
      row.Set("name", def.name);
      row.Set("args", def.args);
      row.Set("result", def.result);
      row.Set("surface", surfaceName(def.surface));
      row.Set("async", def.async);
      row.Set("doc", def.doc);
      meta.Set(meta.Length(), row);
    }
  }
  exports.Set("__ops", meta);
  return exports;
}

}  // namespace

[[noreturn]] void Args::fail(size_t i, const std::string& expected) const {
  throw ArgError("argument '" + (*specs)[i].name + "' expected " + expected);
}

const safetensors::NamedTensors& Args::named(size_t i) const {
  static const safetensors::NamedTensors none;
  return values[i].extra ? values[i].extra->named : none;
}

const safetensors::Metadata& Args::meta(size_t i) const {
  static const safetensors::Metadata none;
  return values[i].extra ? values[i].extra->meta : none;
}

at::Scalar Args::scalar(size_t i) const {
  const double v = values[i].number;
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 9007199254740992.0) return at::Scalar(static_cast<int64_t>(v));
  return at::Scalar(v);
}

}  // namespace invdiff::binding

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return invdiff::binding::init(env, exports); }
NODE_API_MODULE(invdiff, InitAddon)
