// The module kinds JS can build by name: the small layers and the networks.
#include "core/models/registry.h"

#include "core/models/diffusion/edm_unet.h"
#include "core/models/idm/idm.h"
#include "core/named_table.h"
#include "core/nn/layers.h"

namespace invdiff {
namespace {

struct Kind {
  const char* name;
  std::shared_ptr<Module> (*create)(const Options&);
};
constexpr Kind kKinds[] = {
    {"linear", nn::makeLinear},
    {"conv2d", nn::makeConv2d},
    {"groupNorm", nn::makeGroupNorm},
    {"mlp", nn::makeMlp},
    {"idm", idm::makeIdm},
    {"unconditional", diffusion::makeUnconditional},
    {"palette", diffusion::makePalette},
};

}  // namespace

std::shared_ptr<Module> createModule(const std::string& kind, const Options& options) {
  auto module = findNamed(kKinds, kind, "module kind", "kinds").create(options);
  options.rejectUnread(kind);
  return module;
}

std::vector<std::string> moduleKinds() { return namesOf(kKinds); }

}  // namespace invdiff
