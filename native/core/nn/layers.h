// The small layers (module kinds linear, conv2d, groupNorm, mlp), built from their options.
#pragma once
#include <memory>

#include "core/nn/module.h"

namespace invdiff::nn {

std::shared_ptr<Module> makeLinear(const Options& o);
std::shared_ptr<Module> makeConv2d(const Options& o);
std::shared_ptr<Module> makeGroupNorm(const Options& o);
std::shared_ptr<Module> makeMlp(const Options& o);

}  // namespace invdiff::nn
