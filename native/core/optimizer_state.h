// An optimizer's state as named tensors, the form checkpoints store it in. LibTorch's own archive is not
// used: its loader accepts a tensor record shorter than the tensor it declares, and the next Adam step then
// writes past the buffer. Here every name, shape, dtype and value range is checked against the optimizer's
// own parameters before any of it is written into the optimizer.
//
// Names are "<parameter index>.<field>", the index counting parameters over all groups in order:
//   Adam, AdamW  step (int64 scalar), exp_avg, exp_avg_sq, and max_exp_avg_sq with amsgrad
//   SGD          momentum_buffer, with a non-zero momentum
// A parameter that has not been stepped yet has no entries.
#pragma once
#include <torch/optim/optimizer.h>

#include "core/safetensors.h"

namespace invdiff::optim {

safetensors::NamedTensors state(torch::optim::Optimizer& optimizer);

// Replaces the whole state (parameters absent from `state` start afresh). Throws std::invalid_argument
// naming the entry at fault; the optimizer is unchanged then.
void loadState(torch::optim::Optimizer& optimizer, const safetensors::NamedTensors& state);

}  // namespace invdiff::optim
