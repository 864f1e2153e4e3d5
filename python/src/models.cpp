// resnet_cpp.models: one factory per architecture, named as torchvision names them (resnet/zoo.h), plus the
// U-Nets ("unet-resnet34" -> unet_resnet34):
//   rc.models.resnet50(num_classes=1000, weights="resnet50.pth", in_channels=3)
#include <fmt/format.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include <algorithm>

#include "bindings.h"
#include "resnet/error.h"
#include "resnet/unet.h"
#include "resnet/zoo.h"

namespace resnet::python {

using namespace nb::literals;

namespace {

// Python identifiers of the architectures, kept for the module's lifetime (nanobind keeps the pointers).
const std::vector<std::pair<std::string, std::string>>& factory_names() {
  static const auto names = [] {
    std::vector<std::pair<std::string, std::string>> out;
    for (const std::string& arch : zoo_names()) out.emplace_back(arch, arch);
    for (const std::string& arch : unet_zoo_names()) {
      std::string identifier = arch;
      std::replace(identifier.begin(), identifier.end(), '-', '_');
      out.emplace_back(identifier, arch);
    }
    return out;
  }();
  return names;
}

}  // namespace

void bind_models(nb::module_& m) {
  nb::module_ models = m.def_submodule(
      "models",
      "One factory per architecture, as torchvision.models names them (and the U-Nets, unet_<encoder>).");
  for (const auto& [identifier, arch] : factory_names()) {
    models.def(
        identifier.c_str(),
        [arch = arch](std::optional<int> num_classes, std::optional<std::string> weights, int in_channels,
                      std::optional<std::string> stem, uint64_t seed) {
          if (num_classes && *num_classes < 1)
            throw InputError(fmt::format("{}: num_classes={}: expected at least 1", arch, *num_classes));
          return create_model(arch, num_classes.value_or(0), weights.value_or(""), in_channels,
                              stem.value_or(""), seed);
        },
        nb::kw_only(), "num_classes"_a = nb::none(), "weights"_a = nb::none(), "in_channels"_a = 3,
        "stem"_a = nb::none(), "seed"_a = 0,
        "num_classes: None = the weights' count, else the architecture's default (1000 ImageNet family, 10 "
        "CIFAR; a U-Net's 1). weights: a .pth or .safetensors state_dict path loaded strictly, or None for "
        "torchvision's initialisation from `seed`. stem: 'imagenet' | 'cifar' | None (the architecture's).");
  }
  models.def(
      "names",
      [] {
        std::vector<std::string> names;
        for (const auto& [identifier, arch] : factory_names()) names.push_back(identifier);
        return names;
      },
      "The factories of this module, in the zoo's order.");
}

}  // namespace resnet::python
