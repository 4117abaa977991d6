// Distributed rows of the op table: the process's one c10d process group (as torch.distributed keeps a
// default group). Each collective row runs on the main thread only to queue its work, in call order, and
// returns a ticket; distWait (or distWait$async, on a libuv worker) waits for it.
#include <mutex>

#include "binding/table.h"
#include "core/distributed/gradients.h"
#include "core/distributed/process_group.h"

namespace invdiff::binding {
namespace {

std::mutex groupMutex;
// Never destroyed at exit: a process that ends without destroy() (an error, a dead peer) must not join
// threads in static destructors while LibTorch's own statics go away.
std::shared_ptr<distributed::ProcessGroup>& theGroup = *new std::shared_ptr<distributed::ProcessGroup>();

// Held by the caller for the call's length, so destroy() cannot free a group a wait still uses.
std::shared_ptr<distributed::ProcessGroup> group() {
  std::lock_guard<std::mutex> lock(groupMutex);
  if (!theGroup) throw std::logic_error("distributed: no process group; call inv.distributed.init() first");
  return theGroup;
}

Result ticket(uint64_t t) { return static_cast<double>(t); }

const std::vector<OpImpl> rows = {
    {"distInit",
     [](const Args& a) -> Result {
       {
         std::lock_guard<std::mutex> lock(groupMutex);
         if (theGroup) throw std::logic_error("distributed: a process group is already initialised (destroy() it first)");
       }
       distributed::GroupOptions o;
       o.rank = a.i64(0);
       o.worldSize = a.i64(1);
       o.masterAddr = a.s(2);
       o.masterPort = a.i64(3);
       o.timeout = std::chrono::milliseconds(a.i64(4));
       auto made = std::make_shared<distributed::ProcessGroup>(o);
       std::lock_guard<std::mutex> lock(groupMutex);
       if (theGroup) throw std::logic_error("distributed: a process group is already initialised (destroy() it first)");
       theGroup = std::move(made);
       return {};
     }},
    {"distDestroy",
     [](const Args&) -> Result {
       std::shared_ptr<distributed::ProcessGroup> last;
       {
         std::lock_guard<std::mutex> lock(groupMutex);
         last.swap(theGroup);
       }
       return last != nullptr;  // the group is freed here, or by the last wait still holding it
     }},
    {"distAllReduce", [](const Args& a) -> Result { return ticket(group()->allReduce(a.t(0), distributed::parseReduceOp(a.s(1)))); }},
    {"distBroadcast", [](const Args& a) -> Result { return ticket(group()->broadcast(a.t(0), a.i64(1))); }},
    {"distBarrier", [](const Args&) -> Result { return ticket(group()->barrier()); }},
    {"distAverageGradients", [](const Args& a) -> Result { return ticket(distributed::averageGradients(*group(), a.ts(0), a.i64(1))); }},
    {"distBroadcastModule", [](const Args& a) -> Result { return ticket(distributed::broadcastModule(*group(), a.sharedModule(0), a.i64(1), a.i64(2))); }},
    {"distWait",
     [](const Args& a) -> Result {
       group()->wait(static_cast<uint64_t>(a.i64(0)));
       return {};
     }},
};

}  // namespace

const std::vector<OpImpl>& distributedOps() { return rows; }

}  // namespace invdiff::binding
