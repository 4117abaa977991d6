// Module kinds by name, for the binding's moduleCreate and the checkpoint loaders.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/nn/module.h"

namespace invdiff {

std::shared_ptr<Module> createModule(const std::string& kind, const Options& options);
std::vector<std::string> moduleKinds();

}  // namespace invdiff
