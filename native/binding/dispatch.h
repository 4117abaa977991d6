// Calling a row from JS: on the main thread (dispatch) or on libuv's worker pool (dispatchAsync, which
// resolves a Promise). Either way C++ exceptions become JS errors that name the call.
#pragma once
#include <node_api.h>

#include "binding/table.h"

namespace invdiff::binding {

// A row as JS calls it: its schema and its body. Each JS function holds a pointer to one.
struct Entry {
  const OpSpec* spec;
  Result (*fn)(const Args&);
};

// How many async calls still running were given this module; rows that change its parameters (to(),
// loadStateDict) refuse while it is not 0, since a worker reads them meanwhile. Main thread only.
int asyncCallsUsing(const Module& m);

// napi callbacks whose data is an Entry*.
napi_value dispatch(napi_env env, napi_callback_info info);
napi_value dispatchAsync(napi_env env, napi_callback_info info);

}  // namespace invdiff::binding
