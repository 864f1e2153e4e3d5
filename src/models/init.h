// torchvision's initialisation, from a seeded generator:
//   Conv2d       kaiming_normal_(mode="fan_out", nonlinearity="relu"): N(0, 2 / (out * KH * KW))
//   BatchNorm2d  weight 1, bias 0
//   Linear       PyTorch's default: weight U(-1/sqrt(in), 1/sqrt(in)) (kaiming_uniform a=sqrt(5)), bias
//   likewise
#pragma once

#include "core/rng.h"
#include "nn/conv2d.h"
#include "nn/linear.h"

namespace resnet {

void init_kaiming_normal_fan_out(Conv2d& conv, Rng& rng);
void init_linear_default(Linear& linear, Rng& rng);

}  // namespace resnet
