// The named architectures: torchvision.models' table of (block, layers, groups, width_per_group), and the
// CIFAR networks of He et al. 2015 §4.2 (3 stages of 16/32/64 channels, 6n+2 layers, zero-padding shortcuts),
// and their plain twins (plain20 ...: the same layers and init without any shortcut, the paper's Fig. 6).
#include "resnet/zoo.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "resnet/error.h"
#include "resnet/unet.h"

namespace resnet {
namespace {

ResNetConfig imagenet(const char* name, BlockKind block, std::vector<int> layers, int groups = 1,
                      int width = 64) {
  ResNetConfig c;
  c.name = name;
  c.block = block;
  c.layers = std::move(layers);
  c.groups = groups;
  c.width_per_group = width;
  return c;
}

// resnet(6n+2): n BasicBlocks per stage.
ResNetConfig cifar(const char* name, int n) {
  ResNetConfig c;
  c.name = name;
  c.block = BlockKind::basic;
  c.layers = {n, n, n};
  c.widths = {16, 32, 64};
  c.stem_width = 16;
  c.stem = Stem::cifar;
  c.shortcut = Shortcut::zero_pad;
  c.num_classes = 10;
  return c;
}

// plain(6n+2): resnet(6n+2) without the residual add (zero-pad shortcuts have no parameters: same count).
ResNetConfig plain(const char* name, int n) {
  ResNetConfig c = cifar(name, n);
  c.shortcut = Shortcut::none;
  return c;
}

// Kept apart from zoo_table(): zoo_names() (and `resnet list --json`) list the residual networks as before.
const std::vector<ResNetConfig>& plain_table() {
  static const std::vector<ResNetConfig> table = {plain("plain20", 3), plain("plain32", 5),
                                                  plain("plain44", 7), plain("plain56", 9),
                                                  plain("plain110", 18)};
  return table;
}

const std::vector<ResNetConfig>& zoo_table() {
  static const std::vector<ResNetConfig> table = {
      imagenet("resnet18", BlockKind::basic, {2, 2, 2, 2}),
      imagenet("resnet34", BlockKind::basic, {3, 4, 6, 3}),
      imagenet("resnet50", BlockKind::bottleneck, {3, 4, 6, 3}),
      imagenet("resnet101", BlockKind::bottleneck, {3, 4, 23, 3}),
      imagenet("resnet152", BlockKind::bottleneck, {3, 8, 36, 3}),
      imagenet("resnext50_32x4d", BlockKind::bottleneck, {3, 4, 6, 3}, 32, 4),
      imagenet("resnext101_32x8d", BlockKind::bottleneck, {3, 4, 23, 3}, 32, 8),
      imagenet("resnext101_64x4d", BlockKind::bottleneck, {3, 4, 23, 3}, 64, 4),
      imagenet("wide_resnet50_2", BlockKind::bottleneck, {3, 4, 6, 3}, 1, 128),
      imagenet("wide_resnet101_2", BlockKind::bottleneck, {3, 4, 23, 3}, 1, 128),
      cifar("resnet20", 3),
      cifar("resnet32", 5),
      cifar("resnet44", 7),
      cifar("resnet56", 9),
      cifar("resnet110", 18),
      cifar("resnet1202", 200),
  };
  return table;
}

}  // namespace

const std::vector<std::string>& zoo_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& c : zoo_table()) out.push_back(c.name);
    return out;
  }();
  return names;
}

const std::vector<std::string>& plain_zoo_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& c : plain_table()) out.push_back(c.name);
    return out;
  }();
  return names;
}

ResNetConfig zoo_config(const std::string& name, int num_classes, int in_channels) {
  for (const auto* table : {&zoo_table(), &plain_table()}) {
    for (const auto& entry : *table) {
      if (name != entry.name) continue;
      ResNetConfig c = entry;
      if (num_classes > 0) c.num_classes = num_classes;
      c.in_channels = in_channels;
      return c;
    }
  }
  throw InputError(fmt::format("unknown architecture '{}' (valid: {}, {})", name,
                               fmt::join(zoo_names(), ", "), fmt::join(plain_zoo_names(), ", ")));
}

void apply_stem(ResNetConfig& config, const std::string& stem) {
  if (stem == "cifar") {
    config.stem = Stem::cifar;
  } else if (stem == "imagenet") {
    config.stem = Stem::imagenet;
  } else if (!stem.empty()) {
    throw InputError(fmt::format("--stem {}: expected imagenet or cifar", stem));
  }
}

int zoo_default_image_size(const std::string& name) {
  return zoo_config(name).stem == Stem::cifar ? 32 : 224;
}

// U-Nets: "unet-" + each ImageNet-family encoder (the CIFAR networks' stages do not halve the size).
constexpr const char* kUnetPrefix = "unet-";

const std::vector<std::string>& unet_zoo_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& c : zoo_table()) {
      if (c.stem == Stem::imagenet) out.push_back(kUnetPrefix + c.name);
    }
    return out;
  }();
  return names;
}

bool is_unet_name(const std::string& arch) {
  return arch.starts_with(kUnetPrefix);
}

UNetConfig unet_zoo_config(const std::string& name, int classes, int in_channels, int encoder_depth,
                           std::vector<int> decoder_channels) {
  const std::vector<std::string>& names = unet_zoo_names();
  const std::string encoder = is_unet_name(name) ? name.substr(std::string(kUnetPrefix).size()) : "";
  const std::vector<std::string>& encoders = zoo_names();
  if (std::find(encoders.begin(), encoders.end(), encoder) == encoders.end()) {
    throw InputError(fmt::format("unknown U-Net '{}' (valid: {})", name, fmt::join(names, ", ")));
  }
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    throw InputError(
        fmt::format("{}: {} is a CIFAR network, whose stages do not halve the size (3x3/1 stem, no "
                    "max-pool); a U-Net encoder must be one of the ImageNet family ({})",
                    name, encoder, fmt::join(names, ", ")));
  }
  UNetConfig c;
  c.name = name;
  c.encoder = zoo_config(encoder, 0, in_channels);
  c.encoder_depth = encoder_depth;
  c.decoder_channels = decoder_channels.empty() && encoder_depth >= 1 && encoder_depth <= 5
                           ? default_decoder_channels(encoder_depth)
                           : std::move(decoder_channels);
  if (classes > 0) c.classes = classes;
  return c;
}

}  // namespace resnet
