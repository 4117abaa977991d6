#include "core/options.h"

#include <cmath>
#include <stdexcept>

namespace invdiff {

int64_t Options::integer(const std::string& kind, const std::string& key) const {
  auto it = numbers.find(key);
  if (it == numbers.end()) throw std::invalid_argument(kind + ": option '" + key + "' is required (a positive integer)");
  return integer(kind, key, 0);
}

int64_t Options::integer(const std::string& kind, const std::string& key, int64_t fallback) const {
  auto it = numbers.find(key);
  if (it == numbers.end()) return fallback;
  const double v = it->second;
  if (!std::isfinite(v) || v != std::floor(v) || v < 0 || v > 1e9)
    throw std::invalid_argument(kind + ": option '" + key + "' must be a non-negative integer, got " + std::to_string(v));
  return static_cast<int64_t>(v);
}

double Options::number(const std::string& kind, const std::string& key, double fallback) const {
  auto it = numbers.find(key);
  if (it == numbers.end()) return fallback;
  if (!std::isfinite(it->second)) throw std::invalid_argument(kind + ": option '" + key + "' must be a finite number");
  return it->second;
}

std::vector<int64_t> Options::list(const std::string& kind, const std::string& key) const {
  auto it = lists.find(key);
  if (it == lists.end() || it->second.empty())
    throw std::invalid_argument(kind + ": option '" + key + "' is required (a non-empty list of integers)");
  return it->second;
}

std::vector<int64_t> Options::list(const std::string& kind, const std::string& key, std::vector<int64_t> fallback) const {
  return lists.count(key) ? list(kind, key) : fallback;
}

bool Options::has(const std::string& key) const {
  return numbers.count(key) || lists.count(key) || strings.count(key) || flags.count(key);
}

bool Options::flag(const std::string& key, bool fallback) const {
  auto it = flags.find(key);
  return it == flags.end() ? fallback : it->second;
}

std::string Options::string(const std::string& key, const std::string& fallback) const {
  auto it = strings.find(key);
  return it == strings.end() ? fallback : it->second;
}

}  // namespace invdiff
