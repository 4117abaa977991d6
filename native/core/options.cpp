#include "core/options.h"

#include <cmath>
#include <stdexcept>

namespace invdiff {

namespace {
const char* givenAs(const Options& o, const std::string& key) {
  if (o.numbers.count(key)) return "number";
  if (o.lists.count(key)) return "list";
  if (o.strings.count(key)) return "string";
  if (o.flags.count(key)) return "boolean";
  return nullptr;
}
}  // namespace

void Options::note(const std::string& kind, const std::string& key, const char* type) const {
  read_->insert(key);
  const char* given = givenAs(*this, key);
  if (given && std::string(given) != type)
    throw std::invalid_argument(kind + ": option '" + key + "' must be a " + (std::string(type) == "list" ? "list of integers" : type) + ", got a " + given);
}

int64_t Options::integer(const std::string& kind, const std::string& key) const {
  note(kind, key, "number");
  if (!numbers.count(key)) throw std::invalid_argument(kind + ": option '" + key + "' is required (a positive integer)");
  return integer(kind, key, 0);
}

int64_t Options::integer(const std::string& kind, const std::string& key, int64_t fallback) const {
  note(kind, key, "number");
  auto it = numbers.find(key);
  if (it == numbers.end()) return fallback;
  const double v = it->second;
  if (!std::isfinite(v) || v != std::floor(v) || v < 0 || v > 1e9)
    throw std::invalid_argument(kind + ": option '" + key + "' must be a non-negative integer, got " + std::to_string(v));
  return static_cast<int64_t>(v);
}

double Options::number(const std::string& kind, const std::string& key, double fallback) const {
  note(kind, key, "number");
  auto it = numbers.find(key);
  if (it == numbers.end()) return fallback;
  if (!std::isfinite(it->second)) throw std::invalid_argument(kind + ": option '" + key + "' must be a finite number");
  return it->second;
}

std::vector<int64_t> Options::list(const std::string& kind, const std::string& key) const {
  note(kind, key, "list");
  auto it = lists.find(key);
  if (it == lists.end() || it->second.empty())
    throw std::invalid_argument(kind + ": option '" + key + "' is required (a non-empty list of integers)");
  return it->second;
}

std::vector<int64_t> Options::list(const std::string& kind, const std::string& key, std::vector<int64_t> fallback) const {
  note(kind, key, "list");
  return lists.count(key) ? list(kind, key) : fallback;
}

bool Options::flag(const std::string& kind, const std::string& key, bool fallback) const {
  note(kind, key, "boolean");
  auto it = flags.find(key);
  return it == flags.end() ? fallback : it->second;
}

std::string Options::string(const std::string& kind, const std::string& key, const std::string& fallback) const {
  note(kind, key, "string");
  auto it = strings.find(key);
  return it == strings.end() ? fallback : it->second;
}

bool Options::has(const std::string& key) const {
  read_->insert(key);
  return givenAs(*this, key) != nullptr;
}

void Options::rejectUnread(const std::string& kind) const {
  auto check = [&](const auto& map) {
    for (const auto& entry : map) {
      if (read_->count(entry.first)) continue;
      std::string known;
      for (const auto& k : *read_) known += (known.empty() ? "" : ", ") + k;
      throw std::invalid_argument(kind + ": unknown option '" + entry.first + "' (it takes " + (known.empty() ? "none" : known) + ")");
    }
  };
  check(numbers);
  check(lists);
  check(strings);
  check(flags);
}

}  // namespace invdiff
