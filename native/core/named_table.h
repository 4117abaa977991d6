// Lookup in the constant tables of named factories (module kinds, operator families), with one error
// message that lists what exists.
#pragma once
#include <stdexcept>
#include <string>
#include <vector>

namespace invdiff {

template <class Row, size_t N>
std::vector<std::string> namesOf(const Row (&rows)[N]) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.emplace_back(r.name);
  return out;
}

// The row called `name`; otherwise an error: "<what> '<name>' is unknown; known <plural>: a, b, c".
template <class Row, size_t N>
const Row& findNamed(const Row (&rows)[N], const std::string& name, const std::string& what, const std::string& plural) {
  for (const auto& r : rows)
    if (name == r.name) return r;
  std::string known;
  for (const auto& r : rows) known += std::string(known.empty() ? "" : ", ") + r.name;
  throw std::invalid_argument(what + " '" + name + "' is unknown; known " + plural + ": " + known);
}

}  // namespace invdiff
