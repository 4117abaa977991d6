// A c10d process group: rendezvous through a TCPStore hosted by rank 0, Gloo for CPU tensors (and NCCL
// for CUDA tensors when the LibTorch found has CUDA), every collective run on one serial queue so that
// all ranks issue them in the same order. Failures become errors that name this rank and, for a dead
// peer, that peer's rank; a timeout bounds every wait, so no rank hangs.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>

#include "core/distributed/heartbeat.h"
#include "core/distributed/serial_queue.h"

// NCCL only where LibTorch was built with CUDA and c10d's NCCL backend.
#if defined(INVDIFF_CUDA) && defined(USE_C10D_NCCL)
#define INVDIFF_NCCL 1
#endif

namespace c10d {
class ProcessGroupGloo;
class ProcessGroupNCCL;
}  // namespace c10d

namespace invdiff::distributed {

struct GroupOptions {
  int64_t rank = 0;
  int64_t worldSize = 1;
  std::string masterAddr = "127.0.0.1";
  int64_t masterPort = 29500;
  // Rendezvous and every collective; c10d's own default is 30 min.
  std::chrono::milliseconds timeout{std::chrono::minutes(10)};
};

enum class ReduceOp { Sum, Avg, Product, Min, Max };
// 'sum', 'avg', 'product', 'min' or 'max'; anything else is an error naming argument 'op'.
ReduceOp parseReduceOp(const std::string& name);

class ProcessGroup {
 public:
  explicit ProcessGroup(const GroupOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int64_t rank() const { return options_.rank; }
  int64_t worldSize() const { return options_.worldSize; }
  std::chrono::milliseconds timeout() const { return options_.timeout; }

  // Queues a collective and returns its ticket; wait(ticket) blocks until it is done. They write in place.
  uint64_t allReduce(at::Tensor t, ReduceOp op);
  uint64_t broadcast(at::Tensor t, int64_t src);
  uint64_t barrier();
  void wait(uint64_t ticket) { queue_.wait(ticket); }

  // Queues job, which runs on the serial queue and may call start* and finish; an error it throws is reported
  // as `what` failing, with the rank that died when one did. After a failure every later job fails at once.
  uint64_t submit(const std::string& what, std::function<void()> job);
  c10::intrusive_ptr<c10d::Work> startAllReduce(at::Tensor& t, ReduceOp op);  // Avg sums: the caller divides
  c10::intrusive_ptr<c10d::Work> startBroadcast(at::Tensor& t, int64_t src);
  void finish(const c10::intrusive_ptr<c10d::Work>& work);

 private:
  std::string describeFailure(const std::string& what, const std::string& cause);

  GroupOptions options_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo_;
#ifdef INVDIFF_NCCL
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl_;  // CUDA tensors
#endif
  std::unique_ptr<Heartbeat> heartbeat_;
  std::string failure_;  // the first failure, repeated by every later job (queue thread only)
  SerialQueue queue_;    // last: destroyed first, so queued jobs finish while the group still exists
};

}  // namespace invdiff::distributed
