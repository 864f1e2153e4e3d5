// Lowering a ResNet (any module tree of the supported layers) to an inference Program: BN folded into the
// convolution before it, ReLUs fused into the step before them, and each residual block, walked through its
// BlockStructure, as
//   shortcut (block input, or downsample conv+BN, or the zero-padding shortcut as a fixed 0/1 1x1 conv)
//   branch convs with their ReLUs, the last one accumulating into the shortcut, then the output ReLU.
// Dropout is the identity (eval). Any other module, or a block child its structure does not describe, is an
// InputError naming the module's path and type.
#pragma once

#include <string>
#include <vector>

#include "infer/program.h"
#include "resnet/model.h"
#include "resnet/unet.h"

namespace resnet::infer {

// Throws InputError naming the module the plan cannot take (an unsupported layer or arrangement).
Program lower_resnet(ResNet& model);

// The backbone of a ResNet (with or without a classifier): the outputs of `stages` ("stem" — conv1, bn1,
// relu, before the max-pool —, "layer1".."layerN") as the program's named outputs, in the order asked. Lowers
// only up to the deepest stage asked; a residual join whose shortcut is an output adds into an exact copy of
// it, so that no output is written over. Unknown or repeated stage: InputError listing the stages.
Program lower_resnet_features(ResNet& model, const std::vector<std::string>& stages);

// A U-Net (smp's design): the encoder's stages ("stem", "layer1", ... one per level of the depth, as
// lower_resnet_features), each decoder block from its DecoderBlockStructure (x2 nearest upsample, concat with
// its skip feature, conv-BN-ReLU stages folded and fused), then the segmentation head's conv. The program's
// one named output "logits" is [N,H,W,classes] (pixel_logits); H and W must be multiples of 2^depth
// (size_multiple). Throws as lower_resnet.
Program lower_unet(UNet& model);

// Any module tree (a Sequential, a block, a layer) on an input of `in_channels` channels; the program's
// output is the tree's output (num_classes stays 0). Throws as lower_resnet.
Program lower_module(Module& module, int64_t in_channels);

}  // namespace resnet::infer
