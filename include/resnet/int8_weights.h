// The .int8.safetensors file: a model's weights with its convolutions stored as s8, plus the calibration
// (resnet/calibration.h) an int8 InferencePlan needs.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "resnet/calibration.h"
#include "resnet/module.h"

namespace resnet {

class ResNet;

// The model's state_dict (torchvision names, f32) except that each convolution weight "<conv>.weight" is
// stored as s8 (resnet50: 32% of the f32 file; the classifier stays f32):
//   quant.int8_weight.<conv path>          s8 [O,I,KH,KW]  round(weight / scale), per output channel
//   quant.int8_weight_scale.<conv path>    f32 [O]  max |weight[o]| / 127
//   quant.activation_scale.<input | conv>  f32 [1]  calibrated activation scales
//   quant.weight_scale.<conv path>         f32 [O]  per-output-channel scales of the folded weights
// and the metadata format = "resnet.cpp int8", arch, method, percentile, calibration_images, and anything in
// `extra_metadata` (dataset, stem, ...). Written atomically. Loaded, the s8 weights become f32
// "<conv>.weight" = s8 * scale, so the file still loads as an f32 model (with those rounded weights). Folding
// a batch norm only scales each output channel, so the int8 plan re-quantizes them to the same s8 values,
// but for ties at .5 that float rounding breaks (36 of 23.5 million resnet50 weights differ by 1).
void save_int8_weights(ResNet& model, const Int8Calibration& calibration, const std::string& path,
                       const std::map<std::string, std::string>& extra_metadata = {});

// Removes the quant.* entries from `tensors` (as read from `source`, with its safetensors `metadata`), puts
// the f32 convolution weights rebuilt from the s8 ones in their place, and returns the calibration; nullopt
// when there are no quant.* entries (a plain weights file). Throws InputError naming `source` and the entry
// for malformed ones (wrong dtype or shape, a weight without its scales, a non-positive scale).
std::optional<Int8Calibration> take_int8_calibration(StateDict& tensors,
                                                     const std::map<std::string, std::string>& metadata,
                                                     const std::string& source);

}  // namespace resnet
