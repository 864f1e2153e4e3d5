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

// segmentation_models_pytorch's initialize_decoder / initialize_head (a U-Net's decoder and head), bias 0:
//   kaiming_uniform_(mode="fan_in", nonlinearity="relu"): U(-b, b), b = sqrt(6 / (I/g * KH * KW))
//   xavier_uniform_:                                       U(-b, b), b = sqrt(6 / (fan_in + fan_out)),
//                                                          fan_in = I/g * KH * KW, fan_out = O * KH * KW
void init_kaiming_uniform_fan_in(Conv2d& conv, Rng& rng);
void init_xavier_uniform(Conv2d& conv, Rng& rng);

}  // namespace resnet
