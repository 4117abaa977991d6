// The module kinds JS can build by name: the small layers and the networks.
#include "core/models/registry.h"

#include "core/models/diffusion/edm_unet.h"
#include "core/models/diffusion/hdit.h"
#include "core/models/idm/idm.h"
#include "core/named_table.h"
#include "core/nn/layers.h"

namespace invdiff {
namespace {

// Unconditional and Palette come as the EDM U-Net (architecture 'unet', the default) or as HDiT.
template <std::shared_ptr<Module> (*unet)(const Options&)>
std::shared_ptr<Module> denoiser(const std::string& kind, const Options& o) {
  const std::string architecture = o.string(kind, "architecture", "unet");
  if (architecture == "hdit") return diffusion::makeHdit(kind, o);
  if (architecture != "unet") throw std::invalid_argument(kind + ": option 'architecture' must be 'unet' or 'hdit', got '" + architecture + "'");
  return unet(o);
}
std::shared_ptr<Module> unconditional(const Options& o) { return denoiser<diffusion::makeUnconditional>("unconditional", o); }
std::shared_ptr<Module> palette(const Options& o) { return denoiser<diffusion::makePalette>("palette", o); }

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
    {"unconditional", unconditional},
    {"palette", palette},
    {"invfussion", diffusion::makeInvFussion},
};

}  // namespace

std::shared_ptr<Module> createModule(const std::string& kind, const Options& options) {
  auto module = findNamed(kKinds, kind, "module kind", "kinds").create(options);
  options.rejectUnread(kind);
  return module;
}

std::vector<std::string> moduleKinds() { return namesOf(kKinds); }

}  // namespace invdiff
