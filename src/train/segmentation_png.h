// The pictures of `resnet segment`: a mask as a palette PNG, and an image with its mask blended over it and a
// legend of the classes present (Cairo, written atomically through cairo_png.h).
//
// Palette: PASCAL VOC's colour map (class c's bits spread over the high bits of r, g, b), fixed for every
// dataset: class 0 black, 1 (128,0,0), 2 (0,128,0), 3 (128,128,0), 4 (0,0,128), ... 255 (224,224,192).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "resnet/image.h"
#include "resnet/tensor.h"

namespace resnet {

using Rgb8 = std::array<uint8_t, 3>;

// The 256 colours of the palette, index = class.
const std::array<Rgb8, 256>& segmentation_palette();

// Sample n of NHWC logits [N, H, W, K] as a mask [H, W, 1] (predict_classes, resnet/segmentation_loss.h).
Image mask_from_logits(const Tensor& logits, int64_t n);

// mask [H, W, 1] -> a palette PNG whose pixel values are the classes (colours: segmentation_palette()).
void write_mask_png(const Image& mask, const std::string& path);

// image [H, W, 1 or 3] (u8) with mask [H, W, 1] blended over it (alpha 0.5 in the palette's colour; class 0
// and the ignore index are not tinted), scaled up by an integer factor (nearest) to a shorter side of at
// least 224, and on its right a legend: a swatch and the name of each class present other than 0, in class
// order. Throws InputError naming `path` for images that do not match.
void write_segmentation_overlay_png(const Image& image, const Image& mask,
                                    const std::vector<std::string>& class_names, const std::string& path,
                                    int ignore_index = 255);

}  // namespace resnet
