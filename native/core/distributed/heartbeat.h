// A heartbeat each rank keeps in the rendezvous store, so that when a collective fails the survivors can
// name the rank that died instead of quoting a socket address.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
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

  // The other ranks whose beat stopped, watched over several beats. When the store cannot be reached (rank
  // 0, its host, ended), the verdict another rank published before that, else rank 0 alone. Empty when every
  // rank still beats (a rank is stuck, or the ranks disagree).
  std::vector<int64_t> silentRanks();

 private:
  void beat();
  std::vector<int64_t> counts();  // throws when the store is unreachable
  void publish(const std::vector<int64_t>& silent);

  c10::intrusive_ptr<c10d::Store> store_;
  const int64_t rank_, worldSize_;
  std::mutex mutex_;
  std::condition_variable stop_;
  bool stopping_ = false;
  // The silent ranks another rank published, as "2,5", read by the beat thread; its own mutex, since the
  // beat thread holds mutex_ through store calls that can block until the store's timeout.
  std::mutex verdictMutex_;
  std::string verdict_;
  bool seenVerdict_ = false;  // beat thread only
  std::thread thread_;
};

}  // namespace invdiff::distributed
