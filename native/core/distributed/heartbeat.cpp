#include "core/distributed/heartbeat.h"

#include <chrono>
#include <string>

namespace invdiff::distributed {
namespace {

constexpr std::chrono::milliseconds kInterval{200};
// Watching this many beats tells a slow rank from a dead one: a live rank's thread beats even while its
// main thread computes or waits in a collective.
constexpr int kBeatsWatched = 6;

std::string keyOf(int64_t rank) { return "invdiff/alive/" + std::to_string(rank); }

}  // namespace

Heartbeat::Heartbeat(c10::intrusive_ptr<c10d::Store> store, int64_t rank, int64_t worldSize)
    : store_(std::move(store)), rank_(rank), worldSize_(worldSize) {
  store_->add(keyOf(rank_), 1);
  thread_ = std::thread([this] { beat(); });
}

Heartbeat::~Heartbeat() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  stop_.notify_all();
  thread_.join();
}

void Heartbeat::beat() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stop_.wait_for(lock, kInterval, [&] { return stopping_; })) {
    try {
      store_->add(keyOf(rank_), 1);
    } catch (...) {
      return;  // the store's host is gone; the next collective reports it
    }
  }
}

std::vector<int64_t> Heartbeat::counts() {
  std::vector<int64_t> c;
  for (int64_t r = 0; r < worldSize_; ++r) c.push_back(store_->add(keyOf(r), 0));  // adding 0 reads without blocking
  return c;
}

std::vector<int64_t> Heartbeat::silentRanks() {
  try {
    const std::vector<int64_t> before = counts();
    std::this_thread::sleep_for(kInterval * kBeatsWatched);
    const std::vector<int64_t> after = counts();
    std::vector<int64_t> silent;
    for (int64_t r = 0; r < worldSize_; ++r)
      if (r != rank_ && after[r] == before[r]) silent.push_back(r);
    return silent;
  } catch (...) {
    return rank_ == 0 ? std::vector<int64_t>{} : std::vector<int64_t>{0};
  }
}

}  // namespace invdiff::distributed
