// A failure of the run itself (a rendezvous, a peer that died, a collective that timed out), not of any
// argument: the binding reports it as it is, without naming an argument it blames.
#pragma once
#include <stdexcept>

namespace invdiff {

struct RunFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace invdiff
