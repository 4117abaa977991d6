#include "core/distributed/serial_queue.h"

#include <stdexcept>

namespace invdiff::distributed {

SerialQueue::SerialQueue() : thread_([this] { loop(); }) {}

SerialQueue::~SerialQueue() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

uint64_t SerialQueue::submit(std::function<void()> job) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_) throw std::logic_error("the process group is being destroyed");
  const uint64_t ticket = next_++;
  pending_.emplace_back(ticket, std::move(job));
  changed_.notify_all();
  return ticket;
}

void SerialQueue::wait(uint64_t ticket) {
  std::unique_lock<std::mutex> lock(mutex_);
  const auto queued = [&] {
    for (const auto& p : pending_)
      if (p.first == ticket) return true;
    return false;
  };
  if (!finished_.count(ticket) && ticket != running_ && !queued())
    throw std::invalid_argument("argument 'ticket' names no collective of this group that is still to be waited on");
  changed_.wait(lock, [&] { return finished_.count(ticket) > 0; });
  const std::exception_ptr error = finished_.at(ticket);
  finished_.erase(ticket);
  lock.unlock();
  if (error) std::rethrow_exception(error);
}

void SerialQueue::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    changed_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
    if (pending_.empty()) return;  // stopping, nothing left
    auto [ticket, job] = std::move(pending_.front());
    pending_.pop_front();
    running_ = ticket;
    lock.unlock();
    std::exception_ptr error;
    try {
      job();
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    finished_[ticket] = error;
    running_ = 0;
    changed_.notify_all();
  }
}

}  // namespace invdiff::distributed
