// Options as a caller gave them from JS: numbers, integer lists, strings and flags, read with checks
// that name the option and what was expected.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace invdiff {

// Options of a module kind or operator family, as the caller gave them (numbers, integer lists, strings, flags).
struct Options {
  std::map<std::string, double> numbers;
  std::map<std::string, std::vector<int64_t>> lists;
  std::map<std::string, std::string> strings;
  std::map<std::string, bool> flags;

  int64_t integer(const std::string& kind, const std::string& key) const;           // required
  int64_t integer(const std::string& kind, const std::string& key, int64_t fallback) const;
  double number(const std::string& kind, const std::string& key, double fallback) const;
  std::vector<int64_t> list(const std::string& kind, const std::string& key) const;  // required
  std::vector<int64_t> list(const std::string& kind, const std::string& key, std::vector<int64_t> fallback) const;
  bool has(const std::string& key) const;
  bool flag(const std::string& key, bool fallback) const;
  std::string string(const std::string& key, const std::string& fallback) const;
};

}  // namespace invdiff
