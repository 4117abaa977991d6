// JS ⇄ C++ values for the op table: reading a call's arguments by its schema row, writing a Result back,
// and the text of errors (which op, which argument, what it was given).
#pragma once
#include <node_api.h>

#include <stdexcept>
#include <string>

#include "binding/table.h"

namespace invdiff::binding {

// An argument error: thrown as a JS TypeError whose message names the op and the argument.
struct ArgError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Fills a.values from the JS arguments by the row's specs; `own` copies tensors (async calls) instead of
// borrowing them from the handle table. Throws ArgError.
void readArgs(napi_env env, const OpSpec& spec, napi_value* argv, size_t argc, Args& a, bool own);

napi_value toJs(napi_env env, Result& r);

// "matmul(self: float32[2, 3], other: float32[4, 5])": what the failing call was given.
std::string callSignature(const OpSpec& spec, const Args& a);

// Which of the call's arguments a native error is about, as "argument 'other' float32[4, 5] does not fit
// 'self' float32[2, 3]": LibTorch's messages say "tensor a", "mat2" or "batch2", never the caller's names.
// Empty when the message names an argument already or none stands out.
std::string faultyArguments(const OpSpec& spec, const Args& a, const std::string& message);

// A LibTorch message without its C++ backtrace.
std::string cleanTorchMessage(const std::string& m);

}  // namespace invdiff::binding
