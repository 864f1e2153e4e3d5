// The transform pipeline's internals, shared by apply_transform and the loader (which writes into its batch).
#pragma once

#include "core/rng.h"
#include "resnet/data.h"

namespace resnet {

struct CropBox {
  int top = 0, left = 0, height = 0, width = 0;
};

// torchvision RandomResizedCrop.get_params: ten tries at a random area fraction in [scale_min, scale_max] and
// a log-uniform aspect ratio in [ratio_min, ratio_max], else the largest central crop within the ratio range.
CropBox random_resized_crop_box(int height, int width, const TransformSpec& spec, Rng& rng);

// The u8 steps of the pipeline (everything before ToTensor), drawing from `rng` in pipeline order.
Image transform_pixels(const TransformSpec& spec, Image image, Rng& rng);

// ToTensor + Normalize: dst [H, W, C] f32 = (pixel / 255 - mean[c]) / std[c].
void normalize_into(const TransformSpec& spec, const Image& image, float* dst);

}  // namespace resnet
