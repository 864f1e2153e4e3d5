// The named architectures, as torchvision.models names them.
#pragma once

#include <string>
#include <vector>

#include "resnet/model.h"

namespace resnet {

// resnet18 ... wide_resnet101_2 in torchvision's order, then the CIFAR networks resnet20 ... resnet1202.
const std::vector<std::string>& zoo_names();
// The plain CIFAR networks plain20, plain32, plain44, plain56, plain110: resnet20 ... resnet110 without any
// shortcut (Shortcut::none), for the degradation experiment (He et al. 2015 Fig. 6). zoo_config knows them;
// they are not in zoo_names().
const std::vector<std::string>& plain_zoo_names();
// Throws InputError "unknown architecture 'x' (valid: resnet18, ...)". num_classes 0 keeps the entry's
// default (1000 for the ImageNet family, 10 for the CIFAR networks).
ResNetConfig zoo_config(const std::string& name, int num_classes = 0, int in_channels = 3);
// Sets config.stem from a --stem value: "cifar" or "imagenet"; "" keeps the architecture's own. Anything else
// throws InputError "--stem x: expected imagenet or cifar".
void apply_stem(ResNetConfig& config, const std::string& stem);
// The image size a model is made for: 224 for the ImageNet family, 32 for the CIFAR networks.
int zoo_default_image_size(const std::string& name);

}  // namespace resnet
