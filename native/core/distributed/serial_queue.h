// One thread that runs a process group's collectives one after another, in the order they were submitted.
// Every rank must issue collectives in the same order; submitting from the JS main thread and running them
// here (never from several libuv workers at once) keeps that order whatever the caller awaits.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace invdiff::distributed {

class SerialQueue {
 public:
  SerialQueue();
  ~SerialQueue();  // runs what is queued, then joins
  SerialQueue(const SerialQueue&) = delete;
  SerialQueue& operator=(const SerialQueue&) = delete;

  // Queues a job and returns its ticket for wait().
  uint64_t submit(std::function<void()> job);
  // Blocks until the ticket's job has run; rethrows what it threw. Each ticket is waited on at most once.
  void wait(uint64_t ticket);

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::pair<uint64_t, std::function<void()>>> pending_;
  std::map<uint64_t, std::exception_ptr> finished_;  // run, not yet waited on
  uint64_t next_ = 1;
  uint64_t running_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace invdiff::distributed
