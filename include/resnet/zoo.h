// The named architectures, as torchvision.models names them.
#pragma once

#include <string>
#include <vector>

#include "resnet/model.h"

namespace resnet {

// resnet18 ... wide_resnet101_2, in torchvision's order.
const std::vector<std::string>& zoo_names();
// Throws InputError "unknown architecture 'x' (valid: resnet18, ...)".
ResNetConfig zoo_config(const std::string& name, int num_classes = 1000, int in_channels = 3);

}  // namespace resnet
