#include "data/transforms.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "data/auto_augment.h"
#include "data/random_erasing.h"
#include "resnet/error.h"

namespace resnet {
namespace {

// Python's round(): halves go to the even neighbour (the default floating-point rounding mode).
int round_half_even(double x) {
  return static_cast<int>(std::nearbyint(x));
}

// The offset of a centred crop of `crop` pixels along a side of `side` pixels; negative when torchvision's
// CenterCrop first zero-pads the image (by (crop - side) / 2 before, the rest after).
int center_offset(int side, int crop) {
  return crop > side ? -((crop - side) / 2) : round_half_even((side - crop) / 2.0);
}

// RandomCrop(size, padding): the image is zero-padded by `padding` on every side, then a random window is
// taken.
Image random_crop(const Image& image, int size, int padding, Rng& rng) {
  const int padded_h = image.height + 2 * padding;
  const int padded_w = image.width + 2 * padding;
  if (padded_h < size || padded_w < size) {
    throw InputError(fmt::format("RandomCrop({}, padding={}): the image is only {}x{}", size, padding,
                                 image.height, image.width));
  }
  const int top = static_cast<int>(rng.below(uint64_t(padded_h - size + 1)));
  const int left = static_cast<int>(rng.below(uint64_t(padded_w - size + 1)));
  return crop_image(image, top - padding, left - padding, size, size);
}

}  // namespace

Image crop_image(const Image& image, int top, int left, int height, int width) {
  if (height <= 0 || width <= 0)
    throw InputError(fmt::format("crop: size {}x{} is not positive", height, width));
  Image out(height, width, image.channels);
  const int x0 = std::clamp(left, 0, image.width);
  const int x1 = std::clamp(left + width, 0, image.width);
  if (x1 <= x0) return out;
  for (int y = std::max(top, 0); y < std::min(top + height, image.height); ++y) {
    std::copy(image.at(y, x0), image.at(y, x1), out.at(y - top, x0 - left));
  }
  return out;
}

Image center_crop(const Image& image, int size) {
  return crop_image(image, center_offset(image.height, size), center_offset(image.width, size), size, size);
}

Image flip_horizontal(const Image& image) {
  Image out(image.height, image.width, image.channels);
  const size_t c = size_t(image.channels);
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) std::copy_n(image.at(y, x), c, out.at(y, image.width - 1 - x));
  }
  return out;
}

CropBox random_resized_crop_box(int height, int width, const TransformSpec& spec, Rng& rng) {
  const double area = double(height) * width;
  const double log_ratio_min = std::log(spec.ratio_min);
  const double log_ratio_max = std::log(spec.ratio_max);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target_area = area * rng.uniform(spec.scale_min, spec.scale_max);
    const double aspect = std::exp(rng.uniform(log_ratio_min, log_ratio_max));
    const int w = round_half_even(std::sqrt(target_area * aspect));
    const int h = round_half_even(std::sqrt(target_area / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const int top = static_cast<int>(rng.below(uint64_t(height - h + 1)));
      const int left = static_cast<int>(rng.below(uint64_t(width - w + 1)));
      return {top, left, h, w};
    }
  }
  // Fallback: the whole image, cut to the nearest allowed aspect ratio, centred.
  const double in_ratio = double(width) / height;
  int w = width, h = height;
  if (in_ratio < spec.ratio_min) {
    h = round_half_even(w / spec.ratio_min);
  } else if (in_ratio > spec.ratio_max) {
    w = round_half_even(h * spec.ratio_max);
  }
  return {(height - h) / 2, (width - w) / 2, h, w};
}

Image transform_pixels(const TransformSpec& spec, Image image, Rng& rng) {
  if (spec.resize > 0) image = resize_shorter_side(image, spec.resize);
  if (spec.center_crop > 0) image = center_crop(image, spec.center_crop);
  if (spec.random_resized_crop > 0) {
    const CropBox box = random_resized_crop_box(image.height, image.width, spec, rng);
    image = resize_image(crop_image(image, box.top, box.left, box.height, box.width),
                         spec.random_resized_crop, spec.random_resized_crop);
  }
  if (spec.random_crop > 0) image = random_crop(image, spec.random_crop, spec.crop_padding, rng);
  if (spec.horizontal_flip && rng.uniform01() < 0.5) image = flip_horizontal(image);
  if (!spec.auto_augment.empty()) image = auto_augment(image, spec.auto_augment, rng);
  return image;
}

void normalize_into(const TransformSpec& spec, const Image& image, float* dst) {
  const size_t c = size_t(image.channels);
  const bool normalize = !spec.mean.empty();
  if (normalize && (spec.mean.size() != c || spec.std.size() != c)) {
    throw InputError(fmt::format("Normalize has {} means and {} stds for a {}-channel image",
                                 spec.mean.size(), spec.std.size(), c));
  }
  // A u8 pixel has 256 values: one table per channel, each entry computed as torchvision computes it --
  // division, not multiplication by reciprocals, to round as its div(255) and div_(std) do.
  std::vector<float> table(256 * c);
  for (size_t ch = 0; ch < c; ++ch) {
    for (int v = 0; v < 256; ++v) {
      const float value = static_cast<float>(v) / 255.0f;
      table[ch * 256 + size_t(v)] = normalize ? (value - spec.mean[ch]) / spec.std[ch] : value;
    }
  }
  const size_t pixels = image.pixels.size() / c;
  const uint8_t* src = image.pixels.data();
  for (size_t i = 0; i < pixels; ++i, src += c, dst += c)
    for (size_t ch = 0; ch < c; ++ch) dst[ch] = table[ch * 256 + src[ch]];
}

Tensor apply_transform(const TransformSpec& spec, const Image& image, uint64_t seed) {
  Rng rng(seed);
  Image out = transform_pixels(spec, image, rng);
  Tensor tensor({out.height, out.width, out.channels});
  normalize_into(spec, out, tensor.f32());
  random_erase(tensor.f32(), out.height, out.width, out.channels, spec.random_erasing, rng);
  return tensor;
}

TransformSpec train_transform(const DatasetInfo& info, int image_size) {
  TransformSpec spec;
  spec.mean = info.mean;
  spec.std = info.std;
  spec.horizontal_flip = info.mirror_invariant;
  if (info.image_size == 0) {  // images of any size: ImageNet's recipe
    spec.random_resized_crop = image_size > 0 ? image_size : 224;
    return spec;
  }
  const int size = image_size > 0 ? image_size : info.image_size;
  if (size != info.image_size) spec.resize = size;
  spec.random_crop = size;
  spec.crop_padding = 4;
  return spec;
}

TransformSpec eval_transform(const DatasetInfo& info, int image_size) {
  TransformSpec spec;
  spec.mean = info.mean;
  spec.std = info.std;
  if (info.image_size == 0) {
    const int size = image_size > 0 ? image_size : 224;
    spec.resize = size * 256 / 224;
    spec.center_crop = size;
    return spec;
  }
  if (image_size > 0 && image_size != info.image_size) spec.resize = image_size;
  return spec;
}

}  // namespace resnet
