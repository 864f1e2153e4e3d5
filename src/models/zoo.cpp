// The named architectures: torchvision.models' table of (block, layers, groups, width_per_group).
#include "resnet/zoo.h"

#include <fmt/format.h>

#include "resnet/error.h"

namespace resnet {
namespace {

struct ZooEntry {
  const char* name;
  BlockKind block;
  std::vector<int> layers;
  int groups;
  int width_per_group;
};

const std::vector<ZooEntry>& zoo_table() {
  static const std::vector<ZooEntry> table = {
      {"resnet18", BlockKind::basic, {2, 2, 2, 2}, 1, 64},
      {"resnet34", BlockKind::basic, {3, 4, 6, 3}, 1, 64},
      {"resnet50", BlockKind::bottleneck, {3, 4, 6, 3}, 1, 64},
      {"resnet101", BlockKind::bottleneck, {3, 4, 23, 3}, 1, 64},
      {"resnet152", BlockKind::bottleneck, {3, 8, 36, 3}, 1, 64},
      {"resnext50_32x4d", BlockKind::bottleneck, {3, 4, 6, 3}, 32, 4},
      {"resnext101_32x8d", BlockKind::bottleneck, {3, 4, 23, 3}, 32, 8},
      {"resnext101_64x4d", BlockKind::bottleneck, {3, 4, 23, 3}, 64, 4},
      {"wide_resnet50_2", BlockKind::bottleneck, {3, 4, 6, 3}, 1, 128},
      {"wide_resnet101_2", BlockKind::bottleneck, {3, 4, 23, 3}, 1, 128},
  };
  return table;
}

}  // namespace

const std::vector<std::string>& zoo_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& e : zoo_table()) out.emplace_back(e.name);
    return out;
  }();
  return names;
}

ResNetConfig zoo_config(const std::string& name, int num_classes, int in_channels) {
  for (const auto& e : zoo_table()) {
    if (name != e.name) continue;
    ResNetConfig c;
    c.name = e.name;
    c.block = e.block;
    c.layers = e.layers;
    c.groups = e.groups;
    c.width_per_group = e.width_per_group;
    c.num_classes = num_classes;
    c.in_channels = in_channels;
    return c;
  }
  throw InputError(fmt::format("unknown architecture '{}' (valid: {})", name, fmt::join(zoo_names(), ", ")));
}

}  // namespace resnet
