// fashion-mnist-scenes: 64x64 canvases with 1-3 Fashion-MNIST items, and their masks
// (resnet/segmentation_data.h gives the recipe). Every scene is drawn from (seed, split, index) alone, so any
// one can be made by itself and in parallel.
#include <fmt/format.h>

#include <algorithm>

#include "core/rng.h"
#include "data/batch_pipeline.h"
#include "data/segmentation_datasets.h"
#include "resnet/error.h"

namespace resnet {
namespace {

constexpr int kItemSize = 28;
constexpr int kMaxItems = 3;
constexpr uint8_t kMaskThreshold = 63;  // an item pixel > 0.25 * 255 = 63.75, i.e. >= 64, is the item's

class FashionMnistScenes : public SegmentationDataset {
 public:
  FashionMnistScenes(ImageArray items, Split split, const SegmentationOptions& options, DatasetInfo info)
      : items_(std::move(items)), split_(split), options_(options), info_(std::move(info)) {}

  const DatasetInfo& info() const override { return info_; }
  int ignore_index() const override { return options_.ignore_index; }
  int64_t size() const override { return split_ == Split::train ? kTrainScenes : kTestScenes; }
  SegmentationSample get(int64_t index) const override {
    if (index < 0 || index >= size()) {
      throw InternalError(fmt::format("{}: scene {} out of range [0, {})", info_.name, index, size()));
    }
    SegmentationSample scene = make_fashion_mnist_scene(items_, options_.seed, split_, index);
    if (info_.channels != 1) scene.image = convert_channels(scene.image, info_.channels);
    return scene;
  }

 private:
  ImageArray items_;
  Split split_;
  SegmentationOptions options_;
  DatasetInfo info_;
};

// All images of a dataset, as an ImageArray (the items scenes are drawn from).
ImageArray all_images(const Dataset& source) {
  ImageArray items;
  items.count = source.size();
  items.height = items.width = kItemSize;
  items.channels = 1;
  items.pixels.reserve(size_t(items.count) * kItemSize * kItemSize);
  for (int64_t i = 0; i < items.count; ++i) {
    const Sample sample = source.get(i);
    items.pixels.insert(items.pixels.end(), sample.image.pixels.begin(), sample.image.pixels.end());
    items.labels.push_back(sample.label);
  }
  return items;
}

}  // namespace

SegmentationSample make_fashion_mnist_scene(const ImageArray& items, uint64_t seed, Split split,
                                            int64_t index) {
  if (items.count <= 0 || items.height != kItemSize || items.width != kItemSize || items.channels != 1) {
    throw InternalError("make_fashion_mnist_scene: the items must be 28x28 gray images");
  }
  Rng rng(mix_seed(mix_seed(mix_seed(seed) ^ uint64_t(split == Split::train ? 1 : 2)) ^ uint64_t(index)));
  SegmentationSample scene{Image(kSceneSize, kSceneSize, 1), Image(kSceneSize, kSceneSize, 1)};
  const int count = 1 + int(rng.below(kMaxItems));
  for (int n = 0; n < count; ++n) {
    const int64_t item = int64_t(rng.below(uint64_t(items.count)));
    const int top = int(rng.below(kSceneSize - kItemSize + 1));
    const int left = int(rng.below(kSceneSize - kItemSize + 1));
    const uint8_t* pixels = items.pixels.data() + size_t(item) * kItemSize * kItemSize;
    const auto label = uint8_t(items.labels[size_t(item)] + 1);
    for (int y = 0; y < kItemSize; ++y) {
      for (int x = 0; x < kItemSize; ++x) {
        const uint8_t v = pixels[y * kItemSize + x];
        if (v > 0) *scene.image.at(top + y, left + x) = v;
        if (v > kMaskThreshold) *scene.mask.at(top + y, left + x) = label;
      }
    }
  }
  return scene;
}

std::unique_ptr<SegmentationDataset> open_fashion_mnist_scenes(const std::string& data_dir, Split split,
                                                               const SegmentationOptions& options) {
  if (options.channels != 0 && options.channels != 1 && options.channels != 3) {
    throw InputError(
        fmt::format("fashion-mnist-scenes: scenes can be read as 1 or 3 channels, not {}", options.channels));
  }
  const std::unique_ptr<Dataset> source = open_dataset("fashion-mnist", data_dir, split);
  DatasetInfo info;
  info.name = "fashion-mnist-scenes";
  info.class_names = {"background"};
  for (const std::string& name : source->class_names()) info.class_names.push_back(name);
  info.channels = options.channels == 3 ? 3 : 1;  // gray replicated for 3 (mean/std too)
  info.image_size = kSceneSize;
  info.mean.assign(size_t(info.channels), kFashionMnistScenesMean);
  info.std.assign(size_t(info.channels), kFashionMnistScenesStd);
  info.mirror_invariant = true;
  return std::make_unique<FashionMnistScenes>(all_images(*source), split, options, std::move(info));
}

}  // namespace resnet
