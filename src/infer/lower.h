// Lowering a ResNet (any module tree of the supported layers) to an inference Program: BN folded into the
// convolution before it, ReLUs fused into the step before them, and each residual block as
//   shortcut (block input, or downsample conv+BN, or the zero-padding shortcut as a fixed 0/1 1x1 conv)
//   branch convs with ReLU, the last one accumulating into the shortcut, then ReLU.
// Dropout is the identity (eval).
#pragma once

#include "infer/program.h"
#include "resnet/model.h"

namespace resnet::infer {

// Throws InputError naming the module the plan cannot take (an unsupported layer or arrangement).
Program lower_resnet(ResNet& model);

}  // namespace resnet::infer
