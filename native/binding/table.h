// The op table: each C++ body is one row {name, fn}; the row's arguments, result and whether it also runs
// async are declared in the op schema (ops.json) and reach C++ through the generated schema.generated.h.
// Bodies read their arguments by position: a.t(i) a tensor, a.n(i) a number, a.ints(i) a list, ...
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <c10/util/SmallVector.h>
#include <torch/optim/optimizer.h>

#include "binding/handles.h"
#include "binding/schema.generated.h"
#include "core/nn/module.h"
#include "core/operators/operator.h"
#include "core/safetensors.h"

namespace invdiff::binding {

// Payloads few ops take, kept out of Arg so parsing the common arguments touches little memory.
struct ArgExtra {
  std::shared_ptr<Module> module;
  std::shared_ptr<operators::Operator> op;
  std::shared_ptr<torch::optim::Optimizer> optimizer;
  Options options;  // an options argument, or the fields of an Object result
  safetensors::NamedTensors named;
  safetensors::Metadata meta;
  std::vector<double> numbers;
  std::vector<std::string> strings;
};

// One parsed argument. Parsing happens on the main thread, so an op body may run on a worker.
struct Arg {
  bool present = false;
  bool isTensor = false;
  bool fromArray = false;  // Data given as number[] (read as float64; float32 unless a dtype is asked for)
  double number = 0;
  // Sync calls borrow the tensor from the handle table (saving two atomic refcount updates per
  // argument); async calls own a copy, since JS may dispose the handle while the worker runs.
  const at::Tensor* borrowed = nullptr;
  at::Tensor tensor;
  std::vector<int64_t> ints;
  std::vector<at::Tensor> tensors;
  std::string string;
  std::unique_ptr<ArgExtra> extra;

  const at::Tensor& get() const { return borrowed ? *borrowed : tensor; }
  ArgExtra& more() {
    if (!extra) extra = std::make_unique<ArgExtra>();
    return *extra;
  }
};

class Args {
 public:
  c10::SmallVector<Arg, 8> values;
  const std::vector<ArgSpec>* specs = nullptr;

  const at::Tensor& t(size_t i) const { return values[i].get(); }
  bool has(size_t i) const { return values[i].present; }
  bool isTensor(size_t i) const { return values[i].isTensor; }
  bool fromArray(size_t i) const { return values[i].fromArray; }
  // An integral JS number becomes an integer scalar so integer tensors keep their dtype.
  at::Scalar scalar(size_t i) const;
  double n(size_t i) const { return values[i].number; }
  int64_t i64(size_t i) const { return static_cast<int64_t>(values[i].number); }
  bool b(size_t i) const { return values[i].number != 0; }
  const std::vector<int64_t>& ints(size_t i) const { return values[i].ints; }
  const std::vector<double>& numbers(size_t i) const { return values[i].extra->numbers; }
  // Seeds are keys of counter-based draws: any non-negative integer JS can hold exactly.
  uint64_t seed(size_t i) const {
    if (n(i) < 0) fail(i, "a non-negative integer seed, got " + std::to_string(i64(i)));
    return static_cast<uint64_t>(i64(i));
  }
  c10::optional<int64_t> optInt(size_t i) const { return has(i) ? c10::optional<int64_t>(i64(i)) : c10::nullopt; }
  const std::vector<at::Tensor>& ts(size_t i) const { return values[i].tensors; }
  const std::string& s(size_t i) const { return values[i].string; }
  const char* name(size_t i) const { return (*specs)[i].name; }
  Module& module(size_t i) const { return *values[i].extra->module; }
  // For work that outlives the call (a collective queued on the process group's thread).
  std::shared_ptr<Module> sharedModule(size_t i) const { return values[i].extra->module; }
  torch::optim::Optimizer& optimizer(size_t i) const { return *values[i].extra->optimizer; }
  const operators::Operator& op(size_t i) const { return *values[i].extra->op; }
  // For work that outlives the call (an autograd graph that applies the operator in backward).
  std::shared_ptr<operators::Operator> sharedOp(size_t i) const { return values[i].extra->op; }
  const Options& options(size_t i) const { return values[i].extra->options; }
  const safetensors::NamedTensors& named(size_t i) const;  // empty when the list was empty
  const safetensors::Metadata& meta(size_t i) const;
  // Thrown as a TypeError naming the argument.
  [[noreturn]] void fail(size_t i, const std::string& expected) const;
};

struct Result {
  ResultKind kind = ResultKind::None;
  double number = 0;
  at::Tensor tensor;
  std::vector<at::Tensor> tensors;
  std::vector<int64_t> ints;
  std::string string;
  std::unique_ptr<ArgExtra> extra;  // module, optimizer, named tensors, metadata

  Result() = default;
  Result(at::Tensor t) : kind(ResultKind::Tensor), tensor(std::move(t)) {}
  Result(std::vector<at::Tensor> t) : kind(ResultKind::Tensors), tensors(std::move(t)) {}
  Result(double v) : kind(ResultKind::Number), number(v) {}
  Result(int64_t v) : kind(ResultKind::Number), number(static_cast<double>(v)) {}
  Result(bool v) : kind(ResultKind::Bool), number(v) {}
  Result(std::vector<int64_t> v) : kind(ResultKind::Ints), ints(std::move(v)) {}
  Result(std::string v) : kind(ResultKind::String), string(std::move(v)) {}
  Result(const char* v) : Result(std::string(v)) {}
  Result(std::shared_ptr<Module> m) : kind(ResultKind::Module), extra(std::make_unique<ArgExtra>()) { extra->module = std::move(m); }
  Result(std::shared_ptr<torch::optim::Optimizer> o) : kind(ResultKind::Optimizer), extra(std::make_unique<ArgExtra>()) {
    extra->optimizer = std::move(o);
  }
  Result(std::shared_ptr<operators::Operator> o) : kind(ResultKind::Operator), extra(std::make_unique<ArgExtra>()) { extra->op = std::move(o); }
  Result(safetensors::NamedTensors n) : kind(ResultKind::Named), extra(std::make_unique<ArgExtra>()) { extra->named = std::move(n); }
  Result(std::vector<std::string> v) : kind(ResultKind::Strings), extra(std::make_unique<ArgExtra>()) { extra->strings = std::move(v); }
  static Result object(Options fields) {
    Result r;
    r.kind = ResultKind::Object;
    r.extra = std::make_unique<ArgExtra>();
    r.extra->options = std::move(fields);
    return r;
  }
  static Result data(at::Tensor t) {
    Result r(std::move(t));
    r.kind = ResultKind::Data;
    return r;
  }
  static Result load(safetensors::Contents c) {
    Result r(std::move(c.tensors));
    r.kind = ResultKind::Load;
    r.extra->meta = std::move(c.metadata);
    return r;
  }
};

// A row's body; ops.json declares its arguments and result under the same name.
struct OpImpl {
  const char* name;
  Result (*fn)(const Args&);
};

// The objects JS refers to by handle.
HandleTable<at::Tensor>& tensorHandles();
HandleTable<std::shared_ptr<Module>>& moduleHandles();
HandleTable<std::shared_ptr<torch::optim::Optimizer>>& optimizerHandles();
HandleTable<std::shared_ptr<operators::Operator>>& operatorHandles();

// CPU bytes V8 has last been told about (napi_adjust_external_memory), so its GC weighs native memory.
extern int64_t reportedToV8;

// Each translation unit contributes its rows.
const std::vector<OpImpl>& tensorOps();
const std::vector<OpImpl>& objectOps();
const std::vector<OpImpl>& operatorOps();
const std::vector<OpImpl>& distributedOps();

// Helpers the tables share.
at::ScalarType parseDtype(const std::string& name, const char* argument);
std::string dtypeName(at::ScalarType t);
at::Device parseDevice(const std::string& name, const char* argument);
at::TensorOptions factoryOptions(const Args& a, size_t dtypeIndex, size_t deviceIndex);
void checkAllocation(const std::vector<int64_t>& shape, at::ScalarType dtype, const char* argument = "shape");

}  // namespace invdiff::binding
