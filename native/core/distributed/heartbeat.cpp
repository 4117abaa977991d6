#include "core/distributed/heartbeat.h"

#include <chrono>
#include <cstdlib>
#include <string>

namespace invdiff::distributed {
namespace {

constexpr std::chrono::milliseconds kInterval{200};
// Watching this many beats tells a slow rank from a dead one: a live rank's thread beats even while its
// main thread computes or waits in a collective.
constexpr int kBeatsWatched = 6;

std::string keyOf(int64_t rank) { return "invdiff/alive/" + std::to_string(rank); }

// The ranks a survivor found silent. Rank 0 hosts the store and stops once it has found them, so a rank that
// fails only when rank 0's connection closes would otherwise blame rank 0: it reads the verdict here first.
const std::string kVerdict = "invdiff/silent";

std::string join(const std::vector<int64_t>& ranks) {
  std::string s;
  for (int64_t r : ranks) s += (s.empty() ? "" : ",") + std::to_string(r);
  return s;
}

std::vector<int64_t> split(const std::string& s, int64_t self) {
  std::vector<int64_t> ranks;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    const int64_t r = std::strtoll(s.c_str() + start, nullptr, 10);
    if (r != self) ranks.push_back(r);
    start = end + 1;
  }
  return ranks;
}

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
      if (!seenVerdict_ && store_->check({kVerdict})) {
        const std::vector<uint8_t> v = store_->get(kVerdict);
        std::lock_guard<std::mutex> verdictLock(verdictMutex_);
        verdict_.assign(v.begin(), v.end());
        seenVerdict_ = true;
      }
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
    if (!silent.empty()) publish(silent);
    return silent;
  } catch (...) {
    std::lock_guard<std::mutex> lock(verdictMutex_);
    if (!verdict_.empty()) return split(verdict_, rank_);
    return rank_ == 0 ? std::vector<int64_t>{} : std::vector<int64_t>{0};
  }
}

void Heartbeat::publish(const std::vector<int64_t>& silent) {
  const std::string v = join(silent);
  store_->set(kVerdict, std::vector<uint8_t>(v.begin(), v.end()));
  // The host keeps its store up for a few beats, so every other rank's beat thread reads the verdict.
  if (rank_ == 0 && worldSize_ > 2) std::this_thread::sleep_for(kInterval * 3);
}

}  // namespace invdiff::distributed
