// Options as a caller gave them from JS: numbers, integer lists, strings and flags, read with checks
// that name the option and what was expected. Options are checked once, here: every read notes its key and
// refuses a value of another type, and rejectUnread() then refuses keys nothing read (a misspelt option is
// an error, not a silent default).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace invdiff {

// Options of a module kind, operator family or optimizer (the `kind` in messages).
struct Options {
  std::map<std::string, double> numbers;
  std::map<std::string, std::vector<int64_t>> lists;
  std::map<std::string, std::string> strings;
  std::map<std::string, bool> flags;

  int64_t integer(const std::string& kind, const std::string& key) const;  // required
  int64_t integer(const std::string& kind, const std::string& key, int64_t fallback) const;
  double number(const std::string& kind, const std::string& key, double fallback) const;
  std::vector<int64_t> list(const std::string& kind, const std::string& key) const;  // required
  std::vector<int64_t> list(const std::string& kind, const std::string& key, std::vector<int64_t> fallback) const;
  bool flag(const std::string& kind, const std::string& key, bool fallback) const;
  std::string string(const std::string& kind, const std::string& key, const std::string& fallback) const;
  bool has(const std::string& key) const;

  // Throws naming the first key no read asked for, and the keys that were read.
  void rejectUnread(const std::string& kind) const;

 private:
  // Notes key as read; throws when the caller gave it as another type than `type`.
  void note(const std::string& kind, const std::string& key, const char* type) const;
  // Shared by copies (an operator's Setup copies its options), so every read counts wherever it happened.
  std::shared_ptr<std::set<std::string>> read_ = std::make_shared<std::set<std::string>>();
};

}  // namespace invdiff
