// JS ⇄ C++ values: one reader per argument kind (INVDIFF_ARG_KINDS, from the schema), the writer of results,
// and the text of errors.
#include "binding/conversion.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace invdiff::binding {
namespace {

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
    // A plain copy: clone() through the dispatcher and TensorIterator cost ~1.5 µs a call, which every scope
    // paid to hand its handles to disposeAll.
    at::Tensor out = at::empty({static_cast<int64_t>(length)}, at::TensorOptions().dtype(st));
    if (length) std::memcpy(out.data_ptr(), data, length * out.element_size());
    return out;
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

// What a reader sees: the JS value, its type, and the following JS slot for kinds that take two.
struct Reading {
  napi_env env;
  napi_value v;
  napi_valuetype t;
  napi_value next;  // undefined past the end
  const Args& a;
  size_t i;
  bool own;
};

void readTensor(const Reading& r, Arg& out) { setTensor(out, tensorFrom(r.env, r.v, r.a, r.i, r.t), r.own); }

// JS passes (value, isTensor): a handle and a number are both JS numbers.
void readTensorOrScalar(const Reading& r, Arg& out) {
  bool isTensor = false;
  napi_get_value_bool(r.env, r.next, &isTensor);
  if (isTensor) {
    if (r.t == napi_string) r.a.fail(r.i, "a Tensor or a number, got " + stringOf(r.env, r.v));
    setTensor(out, tensorFrom(r.env, r.v, r.a, r.i, r.t), r.own);
    return;
  }
  if (r.t != napi_number) r.a.fail(r.i, "a Tensor or a number, got " + (r.t == napi_string ? stringOf(r.env, r.v) : describe(r.env, r.v)));
  out.number = numberOf(r.env, r.v);
}

void readNumber(const Reading& r, Arg& out) {
  if (r.t != napi_number) r.a.fail(r.i, "a number, got " + describe(r.env, r.v));
  out.number = numberOf(r.env, r.v);
}

void readInteger(const Reading& r, Arg& out) { out.number = static_cast<double>(integerFrom(r.env, r.v, r.a, r.i, "an integer")); }

void readBool(const Reading& r, Arg& out) {
  if (r.t != napi_boolean) r.a.fail(r.i, "a boolean, got " + describe(r.env, r.v));
  bool b;
  napi_get_value_bool(r.env, r.v, &b);
  out.number = b;
}

void readInts(const Reading& r, Arg& out) {
  if (r.t == napi_number) {
    out.ints = {integerFrom(r.env, r.v, r.a, r.i, "an integer or a list of integers")};
    return;
  }
  if (!isArray(r.env, r.v)) r.a.fail(r.i, "an integer or a list of integers, got " + describe(r.env, r.v));
  uint32_t n = 0;
  napi_get_array_length(r.env, r.v, &n);
  out.ints.reserve(n);
  for (uint32_t k = 0; k < n; ++k) {
    napi_value el;
    napi_get_element(r.env, r.v, k, &el);
    out.ints.push_back(integerFrom(r.env, el, r.a, r.i, ("a list of integers, element " + std::to_string(k)).c_str()));
  }
}

void readNumbers(const Reading& r, Arg& out) {
  if (!isArray(r.env, r.v)) r.a.fail(r.i, "a list of numbers, got " + describe(r.env, r.v));
  uint32_t n = 0;
  napi_get_array_length(r.env, r.v, &n);
  auto& numbers = out.more().numbers;
  numbers.reserve(n);
  for (uint32_t k = 0; k < n; ++k) {
    napi_value el;
    napi_get_element(r.env, r.v, k, &el);
    if (typeOf(r.env, el) != napi_number) r.a.fail(r.i, "a list of numbers, element " + std::to_string(k) + " is " + describe(r.env, el));
    numbers.push_back(numberOf(r.env, el));
  }
}

void readTensors(const Reading& r, Arg& out) {
  if (!isArray(r.env, r.v)) r.a.fail(r.i, "an array of Tensors, got " + describe(r.env, r.v));
  uint32_t n = 0;
  napi_get_array_length(r.env, r.v, &n);
  for (uint32_t k = 0; k < n; ++k) {
    napi_value el;
    napi_get_element(r.env, r.v, k, &el);
    out.tensors.push_back(tensorFrom(r.env, el, r.a, r.i, typeOf(r.env, el)));
  }
}

void readString(const Reading& r, Arg& out) {
  if (r.t != napi_string) r.a.fail(r.i, "a string, got " + describe(r.env, r.v));
  out.string = stringOf(r.env, r.v);
}

void readData(const Reading& r, Arg& out) {
  out.tensor = dataFrom(r.env, r.v, r.a, r.i);
  out.fromArray = isArray(r.env, r.v);
}

// A live object from one of the handle tables, or an error that says what was passed.
template <class T>
const T& liveObject(const Reading& r, HandleTable<T>& table, const char* what) {
  const T* found = r.t == napi_number ? table.find(handleOf(r.env, r.v)) : nullptr;
  // TS passes a description string where it found no handle, so the message can say what was passed.
  if (!found)
    r.a.fail(r.i, std::string("a live ") + what + ", got " +
                      (r.t == napi_number ? std::string("a disposed one") : r.t == napi_string ? stringOf(r.env, r.v) : describe(r.env, r.v)));
  return *found;
}

void readModule(const Reading& r, Arg& out) { out.more().module = liveObject(r, moduleHandles(), "Module"); }
void readOptimizer(const Reading& r, Arg& out) { out.more().optimizer = liveObject(r, optimizerHandles(), "Optimizer"); }
void readOperator(const Reading& r, Arg& out) { out.more().op = liveObject(r, operatorHandles(), "Operator"); }
void readOptions(const Reading& r, Arg& out) { out.more().options = optionsFrom(r.env, r.v, r.a, r.i); }

void readNamed(const Reading& r, Arg& out) {
  if (!isArray(r.env, r.v)) r.a.fail(r.i, "an array of [name, Tensor] pairs");
  out.more();  // an empty list still has its (empty) payload
  uint32_t n = 0;
  napi_get_array_length(r.env, r.v, &n);
  for (uint32_t k = 0; k < n; ++k) {
    napi_value pair, name, tensor;
    napi_get_element(r.env, r.v, k, &pair);
    if (!isArray(r.env, pair)) r.a.fail(r.i, "an array of [name, Tensor] pairs");
    napi_get_element(r.env, pair, 0, &name);
    napi_get_element(r.env, pair, 1, &tensor);
    if (typeOf(r.env, name) != napi_string) r.a.fail(r.i, "[name, Tensor] pairs whose names are strings");
    out.more().named.emplace_back(stringOf(r.env, name), tensorFrom(r.env, tensor, r.a, r.i, typeOf(r.env, tensor)));
  }
}

void readMeta(const Reading& r, Arg& out) {
  Options o = optionsFrom(r.env, r.v, r.a, r.i);
  if (!o.numbers.empty() || !o.flags.empty() || !o.lists.empty()) r.a.fail(r.i, "an object of string values");
  out.more().meta.insert(o.strings.begin(), o.strings.end());
}

using Reader = void (*)(const Reading&, Arg&);
#define INVDIFF_READER(kind) read##kind,
constexpr Reader readers[] = {INVDIFF_ARG_KINDS(INVDIFF_READER)};  // indexed by Kind
#undef INVDIFF_READER

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

}  // namespace

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
    case ResultKind::Strings: {
      const auto& list = r.extra->strings;
      napi_create_array_with_length(env, list.size(), &v);
      for (size_t k = 0; k < list.size(); ++k) napi_set_element(env, v, k, string(env, list[k]));
      return v;
    }
    case ResultKind::Object: {
      const Options& o = r.extra->options;
      napi_create_object(env, &v);
      for (const auto& [key, value] : o.numbers) napi_set_named_property(env, v, key.c_str(), number(env, value));
      for (const auto& [key, value] : o.strings) napi_set_named_property(env, v, key.c_str(), string(env, value));
      for (const auto& [key, value] : o.flags) {
        napi_value b;
        napi_get_boolean(env, value, &b);
        napi_set_named_property(env, v, key.c_str(), b);
      }
      for (const auto& [key, list] : o.lists) {
        napi_value arr;
        napi_create_array_with_length(env, list.size(), &arr);
        for (size_t k = 0; k < list.size(); ++k) napi_set_element(env, arr, k, number(env, static_cast<double>(list[k])));
        napi_set_named_property(env, v, key.c_str(), arr);
      }
      return v;
    }
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


void readArgs(napi_env env, const OpSpec& spec, napi_value* argv, size_t argc, Args& a, bool own) {
  a.specs = &spec.args;
  a.values.resize(spec.args.size());
  napi_value undef;
  napi_get_undefined(env, &undef);
  size_t js = 0;
  for (size_t i = 0; i < spec.args.size(); ++i) {
    const ArgSpec& s = spec.args[i];
    Arg& out = a.values[i];
    napi_value v = js < argc ? argv[js] : undef;
    napi_value next = js + 1 < argc ? argv[js + 1] : undef;
    js += s.slots;
    const napi_valuetype t = typeOf(env, v);
    if (t == napi_undefined || (t == napi_null && s.optional)) {
      if (!s.optional) a.fail(i, "a value (it is required)");
      if (!s.hasDefault) continue;
      out.present = true;  // the schema's default, already parsed by the generator
      out.number = s.number;
      out.string = s.text;
      out.ints = s.ints;
      continue;
    }
    out.present = true;
    readers[static_cast<size_t>(s.kind)](Reading{env, v, t, next, a, i, own}, out);
  }
}

std::string cleanTorchMessage(const std::string& m) {
  std::string out = m;
  const auto raised = out.find("\nException raised from");
  if (raised != std::string::npos) out.erase(raised);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

namespace {

// "float32[2, 3]" (" cuda" after a CUDA tensor's).
std::string describeTensor(const at::Tensor& t) {
  std::ostringstream o;
  o << dtypeName(t.scalar_type()) << t.sizes() << (t.is_cuda() ? " cuda" : "");
  return o.str();
}

// "float32[2, 3]", "[5]", "'reflect'", "2 tensors": one argument as the call was given it.
std::string describeArg(const OpSpec& spec, const Args& a, size_t i) {
  std::ostringstream o;
  const Arg& v = a.values[i];
  const Kind kind = spec.args[i].kind;
  if (!v.present) o << "-";
  else if (v.isTensor) o << describeTensor(v.get());
  else if (kind == Kind::Ints) o << c10::IntArrayRef(v.ints);
  else if (kind == Kind::Tensors) o << v.tensors.size() << " tensors";
  else if (kind == Kind::Numbers) o << v.extra->numbers.size() << " numbers";
  else if (kind == Kind::String) o << "'" << v.string << "'";
  else if (kind == Kind::Number || kind == Kind::Integer || kind == Kind::TensorOrScalar) o << v.number;
  else if (kind == Kind::Bool) o << (v.number ? "true" : "false");
  else o << "...";
  return o.str();
}

bool contains(const std::string& text, const char* part) { return text.find(part) != std::string::npos; }

// Whether `word` stands in the message as a word of its own, in any case ("Mask tensor" names 'mask'; the
// "tensor a" of LibTorch's broadcast message is not where's argument 'a', so one- and two-letter names never match).
bool mentions(const std::string& message, const std::string& word) {
  if (word.size() < 3) return false;
  std::string lower(message.size(), ' '), w(word.size(), ' ');
  std::transform(message.begin(), message.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  std::transform(word.begin(), word.end(), w.begin(), [](unsigned char c) { return std::tolower(c); });
  const auto isWord = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (size_t at = lower.find(w); at != std::string::npos; at = lower.find(w, at + 1))
    if ((at == 0 || !isWord(lower[at - 1])) && (at + w.size() == lower.size() || !isWord(lower[at + w.size()]))) return true;
  return false;
}

bool isDimension(const std::string& name) { return name.rfind("dim", 0) == 0 || contains(name, "Dim"); }

// LibTorch's "Dimension out of range (expected to be in range of [-2, 1], but got 5)": the 5.
bool outOfRangeValue(const std::string& message, int64_t& value) {
  const auto at = message.find("but got ");
  if (!contains(message, "out of range") || at == std::string::npos) return false;
  char* end = nullptr;
  value = std::strtoll(message.c_str() + at + 8, &end, 10);
  return end != message.c_str() + at + 8;
}

}  // namespace

std::string callSignature(const OpSpec& spec, const Args& a) {
  std::ostringstream o;
  o << spec.name << '(';
  for (size_t i = 0; i < a.values.size(); ++i) o << (i ? ", " : "") << spec.args[i].name << ": " << describeArg(spec, a, i);
  o << ')';
  return o.str();
}

std::string faultyArguments(const OpSpec& spec, const Args& a, const std::string& message) {
  const size_t n = a.values.size();
  for (size_t i = 0; i < n; ++i)
    if (contains(message, ("'" + std::string(spec.args[i].name) + "'").c_str())) return {};  // named already
  const auto name = [&](size_t i) { return "'" + std::string(spec.args[i].name) + "'"; };
  const auto given = [&](size_t i) { return name(i) + " " + describeArg(spec, a, i); };
  std::vector<size_t> tensors, mentioned;
  for (size_t i = 0; i < n; ++i) {
    if (a.values[i].present && a.values[i].isTensor) tensors.push_back(i);
    // A list's entries are told apart below, which says more than its name.
    if (a.values[i].present && spec.args[i].kind != Kind::Tensors && mentions(message, spec.args[i].name)) mentioned.push_back(i);
  }
  const bool aboutDtype = contains(message, "scalar type") || contains(message, "dtype") || contains(message, "did not match");
  // Two tensors of different dtypes where the message is about dtypes: the later one, among those it mentions.
  if (aboutDtype) {
    std::vector<size_t> pool;
    for (size_t i : tensors)
      if (mentioned.empty() || std::find(mentioned.begin(), mentioned.end(), i) != mentioned.end()) pool.push_back(i);
    for (size_t k = 1; k < pool.size(); ++k)
      if (a.t(pool[k]).scalar_type() != a.t(pool[0]).scalar_type())
        return "argument " + name(pool[k]) + " is " + dtypeName(a.t(pool[k]).scalar_type()) + " where " + name(pool[0]) + " is " +
               dtypeName(a.t(pool[0]).scalar_type()) + " (convert one with .to({ dtype }))";
  }
  int64_t value;
  if (outOfRangeValue(message, value))
    for (size_t i = 0; i < n; ++i) {
      if (!a.values[i].present || !isDimension(spec.args[i].name)) continue;
      const Kind kind = spec.args[i].kind;
      const auto& ints = a.values[i].ints;
      if ((kind == Kind::Integer && a.i64(i) == value) || (kind == Kind::Ints && std::find(ints.begin(), ints.end(), value) != ints.end()))
        return "argument " + given(i) + " is out of range for " + (tensors.empty() ? std::string("its tensors") : given(tensors[0]));
    }
  if (!mentioned.empty()) {
    std::string out = mentioned.size() == 1 ? "argument " : "arguments ";
    for (size_t k = 0; k < mentioned.size(); ++k) out += (k ? (k + 1 == mentioned.size() ? " and " : ", ") : "") + given(mentioned[k]);
    // Sizes or indices that do not suit the tensor they apply to: say which tensor.
    const bool tensorMentioned = std::any_of(mentioned.begin(), mentioned.end(), [&](size_t i) { return a.values[i].isTensor; });
    if (!tensorMentioned && !tensors.empty()) out += (mentioned.size() == 1 ? " does not fit " : " do not fit ") + given(tensors[0]);
    return out;
  }
  for (size_t k = 1; k < tensors.size(); ++k)
    if (a.t(tensors[k]).sizes() != a.t(tensors[0]).sizes()) return "argument " + given(tensors[k]) + " does not fit " + given(tensors[0]);
  for (size_t i = 0; i < n; ++i) {
    if (spec.args[i].kind != Kind::Tensors || !a.values[i].present) continue;
    const auto& list = a.values[i].tensors;
    for (size_t k = 1; k < list.size(); ++k)
      if (list[k].sizes() != list[0].sizes() || list[k].scalar_type() != list[0].scalar_type())
        return "argument " + name(i) + ": entry " + std::to_string(k) + " " + describeTensor(list[k]) + " does not fit entry 0 " + describeTensor(list[0]);
    if (tensors.empty()) return "argument " + name(i) + " (" + std::to_string(list.size()) + " tensors" + (list.empty() ? "" : ", the first " + describeTensor(list[0])) + ")";
  }
  if (tensors.empty()) return {};
  // One tensor: the sizes it was given with, else the tensor itself.
  for (size_t i = 0; i < n; ++i)
    if (a.values[i].present && !isDimension(spec.args[i].name) && (spec.args[i].kind == Kind::Ints || spec.args[i].kind == Kind::Integer))
      return "argument " + given(i) + " does not fit " + given(tensors[0]);
  return "argument " + given(tensors[0]);
}

[[noreturn]] void Args::fail(size_t i, const std::string& expected) const {
  throw ArgError(std::string("argument '") + (*specs)[i].name + "' expected " + expected);
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
