// Calling a row: arguments read on the main thread, the body run here or on a worker, the result written
// back, C++ exceptions turned into JS errors that name the call and what it was given.
#include "binding/dispatch.h"

#include <napi.h>

#include <unordered_map>
#include <vector>

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "binding/conversion.h"
#include "core/backend.h"
#include "core/failure.h"
#include "core/memory.h"

namespace invdiff::binding {

// V8 learns of native bytes in 4 MiB steps, so the GC weighs tensors without a call per allocation.
int64_t reportedToV8 = 0;

namespace {

void reportExternalMemory(napi_env env) {
  const int64_t now = memory::cpu().bytes;
  if (std::llabs(now - reportedToV8) < (int64_t(4) << 20)) return;
  int64_t total;
  if (napi_adjust_external_memory(env, now - reportedToV8, &total) == napi_ok) reportedToV8 = now;
}

// LibTorch's checks and invdiff's invalid_argument: some argument was wrong, so say which.
std::string explained(const OpSpec& spec, const Args& a, const std::string& message) {
  const std::string which = faultyArguments(spec, a, message);
  return callSignature(spec, a) + ": " + (which.empty() ? "" : which + ": ") + message;
}

template <class F>
std::string runCatching(F&& f, const OpSpec& spec, const Args& a) {
  try {
    f();
    return {};
  } catch (const c10::Error& err) {
    return explained(spec, a, cleanTorchMessage(err.what_without_backtrace()));
  } catch (const std::bad_alloc&) {
    return callSignature(spec, a) + ": out of memory";
  } catch (const std::invalid_argument& err) {
    return explained(spec, a, err.what());
  } catch (const std::logic_error& err) {
    return callSignature(spec, a) + ": " + err.what();  // a call out of order (no process group yet), not an argument
  } catch (const RunFailure& err) {
    return callSignature(spec, a) + ": " + err.what();
  } catch (const std::exception& err) {
    return explained(spec, a, cleanTorchMessage(err.what()));  // LibTorch throws runtime_error for some checks (reshape's)
  }
}

// Reads a call's arguments into a; on bad input throws a JS TypeError and returns null.
const Entry* readCall(napi_env env, napi_callback_info info, Args& a, bool own) {
  size_t argc = 16;
  napi_value argv[16];
  void* data;
  napi_get_cb_info(env, info, &argc, argv, nullptr, &data);
  const Entry& e = *static_cast<const Entry*>(data);
  try {
    readArgs(env, *e.spec, argv, argc, a, own);
  } catch (const ArgError& err) {
    napi_throw_type_error(env, "ERR_INVDIFF_ARGUMENT", (std::string(e.spec->name) + ": " + err.what()).c_str());
    return nullptr;
  }
  return &e;
}

}  // namespace

napi_value dispatch(napi_env env, napi_callback_info info) {
  Args a;
  const Entry* entry = readCall(env, info, a, /*own=*/false);
  if (!entry) return nullptr;
  const Entry& e = *entry;
  Result r;
  const std::string error = runCatching([&] { r = e.fn(a); }, *e.spec, a);  // Result moves cheaply: rare parts sit behind one pointer
  if (!error.empty()) {
    napi_throw_error(env, "ERR_INVDIFF_NATIVE", error.c_str());
    return nullptr;
  }
  napi_value out = nullptr;
  const std::string convertError = runCatching([&] { out = toJs(env, r); }, *e.spec, a);
  if (!convertError.empty()) {
    napi_throw_error(env, "ERR_INVDIFF_NATIVE", convertError.c_str());
    return nullptr;
  }
  reportExternalMemory(env);
  return out;
}

namespace {

// Counted when a worker is made and when it is deleted, both on the main thread.
std::unordered_map<const Module*, int> asyncUses;

std::vector<const Module*> modulesOf(const Args& a) {
  std::vector<const Module*> out;
  for (const auto& v : a.values)
    if (v.extra && v.extra->module) out.push_back(v.extra->module.get());
  return out;
}

}  // namespace

int asyncCallsUsing(const Module& m) {
  const auto it = asyncUses.find(&m);
  return it == asyncUses.end() ? 0 : it->second;
}

namespace {

// Runs an op body on libuv's pool. Grad mode is thread-local, so the caller's is carried over.
class OpWorker final : public Napi::AsyncWorker {
 public:
  OpWorker(Napi::Env env, const Entry& e, Args args)
      : Napi::AsyncWorker(env, e.spec->name), deferred_(Napi::Promise::Deferred::New(env)), entry_(e),
        args_(std::move(args)), modules_(modulesOf(args_)), grad_(at::GradMode::is_enabled()), threads_(at::get_num_threads()) {
    for (const Module* m : modules_) ++asyncUses[m];
  }
  ~OpWorker() override {
    for (const Module* m : modules_)
      if (--asyncUses[m] == 0) asyncUses.erase(m);
  }

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    at::AutoGradMode mode(grad_);
    if (at::get_num_threads() != threads_) backend::setNumThreads(threads_);
    const std::string error = runCatching([&] { result_ = entry_.fn(args_); }, *entry_.spec, args_);
    if (!error.empty()) SetError(error);
  }
  void OnOK() override {
    napi_value v = nullptr;
    const std::string error = runCatching([&] { v = toJs(Env(), result_); }, *entry_.spec, args_);
    if (!error.empty()) deferred_.Reject(Napi::Error::New(Env(), error).Value());
    else deferred_.Resolve(Napi::Value(Env(), v));
    reportExternalMemory(Env());
  }
  void OnError(const Napi::Error& err) override { deferred_.Reject(err.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  const Entry& entry_;
  Args args_;
  std::vector<const Module*> modules_;  // kept alive by args_
  Result result_;
  bool grad_;
  int threads_;
};

}  // namespace

napi_value dispatchAsync(napi_env env, napi_callback_info info) {
  Args a;
  const Entry* entry = readCall(env, info, a, /*own=*/true);
  if (!entry) return nullptr;
  auto* worker = new OpWorker(Napi::Env(env), *entry, std::move(a));
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

}  // namespace invdiff::binding
