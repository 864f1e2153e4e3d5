// torchvision's automatic augmentation policies on u8 images (the PIL stage of the recipe, after the crop and
// flip): TrivialAugmentWide() and RandAugment(num_ops=2, magnitude=9), each with torchvision 0.14's
// operations, magnitude bins (31) and fill 0, and each operation as torchvision's functional op computes it
// on a PIL image (PIL's nearest-neighbour affine transform, ImageEnhance's blends, ImageOps' tables).
// 1-channel images get the same operations: "Color" (saturation) is the identity on them, as
// ImageEnhance.Color is on a PIL "L" image.
#pragma once

#include <string>

#include "core/rng.h"
#include "resnet/image.h"

namespace resnet {

enum class AugmentOp {
  identity,
  shear_x,
  shear_y,
  translate_x,
  translate_y,
  rotate,
  brightness,
  color,
  contrast,
  sharpness,
  posterize,
  solarize,
  autocontrast,
  equalize,
};

// torchvision's _apply_op(img, op_name, magnitude): shears take the shear factor (as tan), translations
// pixels (truncated to int), rotate degrees (counter-clockwise), the enhancements 1 + magnitude as the
// factor, posterize bits (truncated), solarize the threshold.
Image apply_augment_op(const Image& image, AugmentOp op, double magnitude);

// The magnitude of bin k (0..30) of `op` in the policy's _augmentation_space for an image H x W (0 for the
// operations without bins).
double augment_bin_magnitude(const std::string& policy, AugmentOp op, int bin, int height, int width);

// "ta_wide" | "ra" | "none"/"": one policy draw from `rng` applied to `image`.
Image auto_augment(const Image& image, const std::string& policy, Rng& rng);

// Throws InputError naming --auto-augment for anything but ta_wide, ra, none or "".
void check_auto_augment_policy(const std::string& policy);

}  // namespace resnet
