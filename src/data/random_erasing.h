// torchvision's RandomErasing(p, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0) on a normalised image, the
// last step of torchvision's classification recipe (after Normalize).
#pragma once

#include <cstdint>

#include "core/rng.h"

namespace resnet {

// The erased rectangle; height 0 = nothing erased.
struct EraseBox {
  int top = 0, left = 0, height = 0, width = 0;
};

// RandomErasing.get_params after its coin: ten tries at an area fraction uniform in [0.02, 0.33] and a
// log-uniform aspect ratio in [0.3, 3.3] (h = round(sqrt(area * ratio)), w = round(sqrt(area / ratio)), h < H
// and w < W), then a uniform position; no box when all ten fail.
EraseBox random_erasing_box(int height, int width, Rng& rng);

// With probability p, zeroes a random_erasing_box of image [H, W, C] (every channel), in place.
void random_erase(float* image, int height, int width, int channels, double p, Rng& rng);

}  // namespace resnet
