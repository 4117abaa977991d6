// Handle tables: JS holds a plain number, native holds the object. A handle packs a slot index (low 24
// bits) with the slot's generation, so a handle kept after dispose is reported, never reused silently.
#pragma once
#include <cstdint>
#include <vector>

namespace invdiff::binding {

template <class T>
class HandleTable {
 public:
  static constexpr int64_t kIndexBits = 24;
  static constexpr int64_t kIndexMask = (int64_t(1) << kIndexBits) - 1;

  int64_t add(T value) {
    uint32_t index;
    if (!free_.empty()) {
      index = free_.back();
      free_.pop_back();
    } else {
      index = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    Slot& s = slots_[index];
    s.value = std::move(value);
    s.live = true;
    ++live_;
    return (int64_t(s.generation) << kIndexBits) | index;
  }

  // nullptr for a handle that was never issued or whose object was released.
  T* find(int64_t handle) {
    if (handle < 0) return nullptr;
    const uint64_t index = static_cast<uint64_t>(handle & kIndexMask);
    if (index >= slots_.size()) return nullptr;
    Slot& s = slots_[index];
    if (!s.live || s.generation != static_cast<uint32_t>(handle >> kIndexBits)) return nullptr;
    return &s.value;
  }

  bool release(int64_t handle) {
    if (!find(handle)) return false;
    const uint32_t index = static_cast<uint32_t>(handle & kIndexMask);
    Slot& s = slots_[index];
    s.value = T();
    s.live = false;
    s.generation = (s.generation + 1) & ((1u << 28) - 1);  // keeps handles below 2^52: exact in a JS number
    free_.push_back(index);
    --live_;
    return true;
  }

  size_t live() const { return live_; }

 private:
  struct Slot {
    T value{};
    uint32_t generation = 0;
    bool live = false;
  };
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  size_t live_ = 0;
};

}  // namespace invdiff::binding
