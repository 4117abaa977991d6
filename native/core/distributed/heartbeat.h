// A heartbeat each rank keeps in the rendezvous store, so that when a collective fails the survivors can
// name the rank that died instead of quoting a socket address.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include <torch/csrc/distributed/c10d/Store.hpp>

namespace invdiff::distributed {

class Heartbeat {
 public:
  Heartbeat(c10::intrusive_ptr<c10d::Store> store, int64_t rank, int64_t worldSize);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  // The other ranks whose beat stopped, watched over several beats; rank 0 alone when the store it hosts
  // cannot be reached. Empty when every rank still beats (a rank is stuck, or the ranks disagree).
  std::vector<int64_t> silentRanks();

 private:
  void beat();
  std::vector<int64_t> counts();  // throws when the store is unreachable

  c10::intrusive_ptr<c10d::Store> store_;
  const int64_t rank_, worldSize_;
  std::mutex mutex_;
  std::condition_variable stop_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace invdiff::distributed
