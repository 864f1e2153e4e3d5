// Per-layer statistics of one forward (torchinfo-like): what `summary` and `list` print.
#pragma once

#include <string>
#include <vector>

#include "resnet/model.h"

namespace resnet::cli {

struct LayerStats {
  std::string path;
  std::string type;
  Shape output_shape;  // NCHW order (as PyTorch users read shapes), e.g. [1,64,112,112]
  int64_t params = 0;
  int64_t macs = 0;
};

struct ModelStats {
  std::vector<LayerStats> layers;  // leaf modules in execution order
  int64_t params = 0;
  int64_t macs = 0;
};

// Runs one eval forward of shapes only (no arithmetic) for input [1, H, W, C] and records every leaf module.
ModelStats collect_model_stats(Module& model, int64_t channels, int64_t height, int64_t width);

}  // namespace resnet::cli
