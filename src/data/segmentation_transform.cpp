// Joint augmentation of an image and its mask: the same crop window and the same flip for both.
#include <fmt/format.h>

#include <algorithm>

#include "core/rng.h"
#include "resnet/error.h"
#include "resnet/segmentation_data.h"

namespace resnet {
namespace {

// The window [top, top + height) x [left, left + width) of `image`; pixels outside it read as `fill`.
Image crop_filled(const Image& image, int top, int left, int height, int width, uint8_t fill) {
  Image out(height, width, image.channels);
  std::fill(out.pixels.begin(), out.pixels.end(), fill);
  const int x0 = std::clamp(left, 0, image.width), x1 = std::clamp(left + width, 0, image.width);
  if (x1 <= x0) return out;
  for (int y = std::max(top, 0); y < std::min(top + height, image.height); ++y)
    std::copy(image.at(y, x0), image.at(y, x1), out.at(y - top, x0 - left));
  return out;
}

}  // namespace

SegmentationTransform segmentation_train_transform(const SegmentationDataset& dataset, int crop_size) {
  const DatasetInfo& info = dataset.info();
  SegmentationTransform transform;
  transform.mean = info.mean;
  transform.std = info.std;
  transform.ignore_index = dataset.ignore_index();
  transform.horizontal_flip = info.mirror_invariant;
  transform.crop_size = crop_size > 0 ? crop_size : info.image_size;
  transform.crop_padding = transform.crop_size / 16;
  return transform;
}

SegmentationTransform segmentation_eval_transform(const SegmentationDataset& dataset) {
  SegmentationTransform transform;
  transform.mean = dataset.info().mean;
  transform.std = dataset.info().std;
  transform.ignore_index = dataset.ignore_index();
  return transform;
}

SegmentationSample augment_segmentation(const SegmentationTransform& transform, SegmentationSample sample,
                                        uint64_t seed) {
  Rng rng(seed);
  if (transform.crop_size > 0) {
    const int size = transform.crop_size, padding = transform.crop_padding;
    const int padded_h = sample.image.height + 2 * padding, padded_w = sample.image.width + 2 * padding;
    if (padded_h < size || padded_w < size) {
      throw InputError(fmt::format("RandomCrop({}, padding={}): the image is only {}x{}", size, padding,
                                   sample.image.height, sample.image.width));
    }
    const int top = int(rng.below(uint64_t(padded_h - size + 1))) - padding;
    const int left = int(rng.below(uint64_t(padded_w - size + 1))) - padding;
    sample.image = crop_filled(sample.image, top, left, size, size, 0);
    sample.mask = crop_filled(sample.mask, top, left, size, size, uint8_t(transform.ignore_index));
  }
  if (transform.horizontal_flip && rng.uniform01() < 0.5) {
    sample.image = flip_horizontal(sample.image);
    sample.mask = flip_horizontal(sample.mask);
  }
  return sample;
}

}  // namespace resnet
