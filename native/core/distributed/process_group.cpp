#include "core/distributed/process_group.h"
#include "core/failure.h"

#include <cstdlib>
#include <stdexcept>

#include <c10/util/Exception.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef INVDIFF_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

// LibTorch 2.x splits c10d's ProcessGroup into a front and per-device Backends, ProcessGroupGloo becoming a
// Backend; the calls used here (allreduce, broadcast, barrier, Work::wait) are the same on both, so the group
// holds the Gloo object itself and needs no version switch.

namespace invdiff::distributed {
namespace {

std::string where(const GroupOptions& o) { return "rank " + std::to_string(o.rank) + " of " + std::to_string(o.worldSize); }

std::string messageOf(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

c10d::ReduceOp c10dOp(ReduceOp op) {
  switch (op) {
    case ReduceOp::Product: return c10d::ReduceOp(c10d::ReduceOp::PRODUCT);
    case ReduceOp::Min: return c10d::ReduceOp(c10d::ReduceOp::MIN);
    case ReduceOp::Max: return c10d::ReduceOp(c10d::ReduceOp::MAX);
    default: return c10d::ReduceOp(c10d::ReduceOp::SUM);  // Gloo has no AVG: summed, then divided
  }
}

bool loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

// Gloo binds to the interface GLOO_SOCKET_IFNAME names (as in PyTorch), to loopback when the master is local,
// else to the interface this host's name resolves to.
std::shared_ptr<::gloo::transport::Device> glooDevice(const GroupOptions& o) {
  if (const char* iface = std::getenv("GLOO_SOCKET_IFNAME"); iface && *iface) return c10d::ProcessGroupGloo::createDeviceForInterface(iface);
  if (loopback(o.masterAddr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

void checkTensor(const at::Tensor& t) {
  if (!t.defined()) throw std::invalid_argument("argument 'tensor' is undefined");
  if (!t.is_contiguous()) throw std::invalid_argument("argument 'tensor' must be contiguous (the collective writes into it; call contiguous() first)");
  if (t.is_sparse()) throw std::invalid_argument("argument 'tensor' must be dense");
}

}  // namespace

ReduceOp parseReduceOp(const std::string& name) {
  if (name == "sum") return ReduceOp::Sum;
  if (name == "avg") return ReduceOp::Avg;
  if (name == "product") return ReduceOp::Product;
  if (name == "min") return ReduceOp::Min;
  if (name == "max") return ReduceOp::Max;
  throw std::invalid_argument("argument 'op' expected 'sum', 'avg', 'product', 'min' or 'max', got '" + name + "'");
}

ProcessGroup::ProcessGroup(const GroupOptions& o) : options_(o) {
  if (o.worldSize < 1) throw std::invalid_argument("argument 'worldSize' must be a positive integer, got " + std::to_string(o.worldSize));
  if (o.rank < 0 || o.rank >= o.worldSize)
    throw std::invalid_argument("argument 'rank' must lie in [0, worldSize - 1] = [0, " + std::to_string(o.worldSize - 1) + "], got " + std::to_string(o.rank));
  if (o.masterPort < 1 || o.masterPort > 65535) throw std::invalid_argument("argument 'masterPort' must lie in [1, 65535], got " + std::to_string(o.masterPort));
  if (o.timeout.count() < 1) throw std::invalid_argument("argument 'timeoutMs' must be positive");
  const std::string master = o.masterAddr + ":" + std::to_string(o.masterPort);
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(o.masterPort);
    so.isServer = o.rank == 0;
    so.numWorkers = static_cast<std::size_t>(o.worldSize);
    so.waitWorkers = true;
    so.timeout = o.timeout;
    store_ = c10::make_intrusive<c10d::TCPStore>(o.masterAddr, so);
  } catch (const std::exception& e) {
    throw RunFailure("distributed (" + where(o) + "): " +
                             (o.rank == 0 ? "could not host the rendezvous at " + master + " or not every rank joined within " + std::to_string(o.timeout.count()) + " ms"
                                          : "no rendezvous with the master at " + master + " within " + std::to_string(o.timeout.count()) + " ms") +
                             ": " + messageOf(e));
  }
  try {
    auto gloo = c10d::ProcessGroupGloo::Options::create(o.timeout);
    gloo->devices.push_back(glooDevice(o));
    gloo_ = c10::make_intrusive<c10d::ProcessGroupGloo>(c10::make_intrusive<c10d::PrefixStore>("gloo", store_), o.rank, o.worldSize, gloo);
#ifdef INVDIFF_NCCL
    nccl_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", store_), o.rank, o.worldSize);
#endif
    heartbeat_ = std::make_unique<Heartbeat>(store_, o.rank, o.worldSize);
  } catch (const std::exception& e) {
    throw RunFailure("distributed (" + where(o) + "): connecting the ranks through " + master + " failed: " + messageOf(e));
  }
}

ProcessGroup::~ProcessGroup() = default;

uint64_t ProcessGroup::submit(const std::string& what, std::function<void()> job) {
  return queue_.submit([this, what, job = std::move(job)] {
    if (!failure_.empty()) throw RunFailure("distributed (" + where(options_) + "): " + what + " not run: the group failed earlier: " + failure_);
    try {
      at::NoGradGuard noGrad;  // in-place writes into parameters and their gradients
      job();
    } catch (const std::invalid_argument&) {
      throw;  // a bad argument breaks nothing
    } catch (const std::exception& e) {
      failure_ = describeFailure(what, messageOf(e));
      throw RunFailure("distributed (" + where(options_) + "): " + failure_);
    }
  });
}

std::string ProcessGroup::describeFailure(const std::string& what, const std::string& cause) {
  const std::vector<int64_t> silent = heartbeat_->silentRanks();
  std::string who;
  for (size_t i = 0; i < silent.size(); ++i) who += (i ? (i + 1 == silent.size() ? " and " : ", ") : "") + ("rank " + std::to_string(silent[i]));
  if (!silent.empty())
    return what + " failed: " + who + " stopped responding (its process ended or lost its connection): " + cause;
  const bool timedOut = cause.find("imed out") != std::string::npos || cause.find("imeout") != std::string::npos;
  if (timedOut)
    return what + " timed out after " + std::to_string(options_.timeout.count()) + " ms with every rank alive (one is stuck, or the ranks issued different collectives): " + cause;
  return what + " failed: " + cause;
}

c10::intrusive_ptr<c10d::Work> ProcessGroup::startAllReduce(at::Tensor& t, ReduceOp op) {
  std::vector<at::Tensor> tensors{t};
  c10d::AllreduceOptions ao;
  ao.reduceOp = c10dOp(op);
  ao.timeout = options_.timeout;
#ifdef INVDIFF_NCCL
  if (t.is_cuda()) return nccl_->allreduce(tensors, ao);
#endif
  return gloo_->allreduce(tensors, ao);
}

c10::intrusive_ptr<c10d::Work> ProcessGroup::startBroadcast(at::Tensor& t, int64_t src) {
  std::vector<at::Tensor> tensors{t};
  c10d::BroadcastOptions bo;
  bo.rootRank = src;
  bo.timeout = options_.timeout;
#ifdef INVDIFF_NCCL
  if (t.is_cuda()) return nccl_->broadcast(tensors, bo);
#endif
  return gloo_->broadcast(tensors, bo);
}

void ProcessGroup::finish(const c10::intrusive_ptr<c10d::Work>& work) {
  if (!work->wait(options_.timeout)) throw RunFailure("Timed out after " + std::to_string(options_.timeout.count()) + " ms");
}

uint64_t ProcessGroup::allReduce(at::Tensor t, ReduceOp op) {
  checkTensor(t);
  return submit("allReduce", [this, t, op]() mutable {
    finish(startAllReduce(t, op));
    if (op == ReduceOp::Avg) t.div_(options_.worldSize);
  });
}

uint64_t ProcessGroup::broadcast(at::Tensor t, int64_t src) {
  checkTensor(t);
  if (src < 0 || src >= options_.worldSize)
    throw std::invalid_argument("argument 'src' must be a rank in [0, " + std::to_string(options_.worldSize - 1) + "], got " + std::to_string(src));
  return submit("broadcast", [this, t, src]() mutable { finish(startBroadcast(t, src)); });
}

uint64_t ProcessGroup::barrier() {
  return submit("barrier", [this] {
    c10d::BarrierOptions bo;
    bo.timeout = options_.timeout;
    finish(gloo_->barrier(bo));
  });
}

}  // namespace invdiff::distributed
