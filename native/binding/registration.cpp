// The addon's entry point: installs the counting allocator, joins each row of the op schema to its C++ body
// by name and exports it as a JS function (and `<name>$async` where the schema says so). Also owns the
// handle tables through which JS refers to native objects.
#include <napi.h>

#include <deque>
#include <map>
#include <string>

#include "binding/dispatch.h"
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

void exportFunction(Napi::Env env, Napi::Object exports, const std::string& name, napi_callback cb, Entry* e) {
  napi_value fn;
  napi_create_function(env, name.c_str(), NAPI_AUTO_LENGTH, cb, e, &fn);
  exports.Set(name, Napi::Value(env, fn));
}

// A schema row without a body, or a body without a row, is a build mistake: the addon refuses to load.
Napi::Object init(Napi::Env env, Napi::Object exports) {
  memory::install();
  std::map<std::string, Result (*)(const Args&)> bodies;
  for (const auto* table : {&tensorOps(), &objectOps(), &operatorOps(), &distributedOps()})
    for (const OpImpl& impl : *table)
      if (!bodies.emplace(impl.name, impl.fn).second) throw std::logic_error(std::string("op table: two bodies for ") + impl.name);
  static std::deque<Entry> entries;  // stable addresses: each JS function holds a pointer to its row
  for (const OpSpec& spec : schema()) {
    const auto body = bodies.find(spec.name);
    if (body == bodies.end()) throw std::logic_error(std::string("op schema: '") + spec.name + "' has no C++ body");
    entries.push_back({&spec, body->second});
    bodies.erase(body);
    exportFunction(env, exports, spec.name, dispatch, &entries.back());
    if (spec.async) exportFunction(env, exports, std::string(spec.name) + "$async", dispatchAsync, &entries.back());
  }
  if (!bodies.empty()) throw std::logic_error("op table: '" + bodies.begin()->first + "' is not in the op schema (native/binding/ops.json)");
  return exports;
}

}  // namespace
}  // namespace invdiff::binding

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return invdiff::binding::init(env, exports); }
NODE_API_MODULE(invdiff, InitAddon)
