// Data for semantic segmentation: datasets of (image, mask) pairs, the joint augmentation that moves a mask
// with its image, and a threaded, deterministic loader of batches.
//
//   std::shared_ptr<const resnet::SegmentationDataset> train =
//       resnet::open_segmentation_dataset("fashion-mnist-scenes", "", resnet::Split::train);
//   resnet::SegmentationLoader loader(train, resnet::segmentation_train_transform(*train),
//                                     {.batch_size = 32, .seed = 1});
//   loader.start_epoch(0);
//   resnet::SegmentationBatch batch;
//   while (loader.next(batch)) { /* batch.images f32 [B,H,W,C], batch.masks u8 [B,H,W] */ }
//
// A mask holds one class index per pixel (u8): 0..K-1, or the ignore index (255 by default), which the losses
// and metrics skip. Every error about a file is an InputError whose message starts with the file's path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "resnet/data.h"
#include "resnet/image.h"
#include "resnet/tensor.h"

namespace resnet {

// ---------------------------------------------------------------------------------------------------------------
// Datasets

inline constexpr int kDefaultIgnoreIndex = 255;
inline constexpr uint64_t kDefaultSceneSeed = 13;  // fashion-mnist-scenes' default --seed

struct SegmentationSample {
  Image image;  // u8 [H, W, C]
  Image mask;   // u8 [H, W, 1]: the class of each pixel, or the ignore index
};

// An indexable set of images with masks. get() is safe to call from several threads at once.
class SegmentationDataset {
 public:
  virtual ~SegmentationDataset() = default;
  // name ("folder-seg", "fashion-mnist-scenes"), class names (K = class_names.size(), class 0 first),
  // channels, image size (0 if images differ), mean/std (per channel, of pixels / 255), mirror_invariant.
  virtual const DatasetInfo& info() const = 0;
  virtual int ignore_index() const = 0;  // mask pixels of this value belong to no class
  virtual int64_t size() const = 0;
  // Decodes or draws sample `index`; throws InputError for a bad file (missing mask, sizes that differ, a
  // mask value >= K that is not the ignore index).
  virtual SegmentationSample get(int64_t index) const = 0;

  int num_classes() const { return info().num_classes(); }
};

struct SegmentationOptions {
  // 1 or 3 (gray replicated); 0 = folder-seg: 1 if its first training image is gray, else 3; scenes: 1.
  int channels = 0;
  int ignore_index = kDefaultIgnoreIndex;  // 0..255; also what the mask is padded with by the augmentation
  uint64_t seed = kDefaultSceneSeed;       // fashion-mnist-scenes: which scenes
};

// name:
//  "folder-seg": data_dir/{train,test}/images/*.{png,jpg,jpeg} with data_dir/{train,test}/masks/<stem>.png
//    (an 8-bit gray PNG whose values are classes, or a palette PNG whose palette indices are classes). Class
//    names: data_dir/classes.txt, one per line, if present; else "0".."K-1" with K = the largest mask value
//    (other than the ignore index) over the training masks + 1. Mean/std: ImageNet's (luma-weighted for
//    gray), as for classification folders.
//  "fashion-mnist-scenes": drawn from Fashion-MNIST (data_dir: its IDX files; "" = default_data_dir
//    ("fashion-mnist")); see make_fashion_mnist_scene.
std::unique_ptr<SegmentationDataset> open_segmentation_dataset(const std::string& name,
                                                               const std::string& data_dir, Split split,
                                                               const SegmentationOptions& options = {});
// The names open_segmentation_dataset accepts.
std::vector<std::string> segmentation_dataset_names();

// fashion-mnist-scenes: 20,000 training scenes drawn from the 60,000 training images, 2,000 test scenes from
// the 10,000 test images. Scene `index` of `split` is a function of (seed, split, index) only:
//   - a 64x64 one-channel canvas of zeros;
//   - 1-3 items (uniform), each a uniformly drawn Fashion-MNIST image of the split, at a uniform position
//   with
//     the whole 28x28 item inside the canvas;
//   - items are drawn in order, later over earlier: an item's pixel replaces the canvas pixel where it is > 0
//     (its black surround leaves what is below visible);
//   - mask: background 0; where an item's pixel is > 0.25 of full scale (> 63.75, i.e. >= 64), the item's
//     class + 1, later items overwriting earlier ones.
// 11 classes: "background", then Fashion-MNIST's ten names. Mean/std: fixed constants, measured once over the
// 20,000 training scenes of the default seed (kFashionMnistScenesMean/Std).
inline constexpr int kSceneSize = 64;
inline constexpr int64_t kTrainScenes = 20000;
inline constexpr int64_t kTestScenes = 2000;
inline constexpr float kFashionMnistScenesMean = 0.09702f;  // of pixels / 255 (0.097015)
inline constexpr float kFashionMnistScenesStd = 0.24616f;   // (0.246165)

// The items a scene is drawn from: one split of Fashion-MNIST (28x28 gray, labels 0..9).
SegmentationSample make_fashion_mnist_scene(const ImageArray& items, uint64_t seed, Split split,
                                            int64_t index);

// Writes `dataset` as one split of a folder-seg tree: split_dir/images/<index, 5 digits>.png (the image: gray
// or RGB PNG) and split_dir/masks/<same>.png (8-bit gray PNG, value = class), each file written atomically.
// count > 0 writes only the first `count` samples. Returns the number written.
int64_t write_segmentation_split(const SegmentationDataset& dataset, const std::string& split_dir,
                                 int64_t count = 0);
// data_dir/classes.txt: the class names, one per line.
void write_class_names(const std::vector<std::string>& class_names, const std::string& data_dir);

// ---------------------------------------------------------------------------------------------------------------
// Joint augmentation

// Applied in this order when enabled: RandomCrop(crop_size, padding=crop_padding) ->
// RandomHorizontalFlip(0.5)
// -> ToTensor + Normalize (image only). The image is padded with 0, the mask with the ignore index, so padded
// pixels count for neither the loss nor the metrics; crop and flip move image and mask alike.
struct SegmentationTransform {
  int crop_size = 0;  // 0 = no crop (images keep their size)
  int crop_padding = 0;
  bool horizontal_flip = false;
  std::vector<float> mean, std;  // per channel; empty = pixels / 255 only
  int ignore_index = kDefaultIgnoreIndex;
};

// Training: RandomCrop(size, padding = size / 16) + flip (if mirror-invariant); crop_size 0 = the dataset's
// image size, or no crop when its images differ in size (image_size 0: a batch's images must then agree in
// size). Evaluation: Normalize only.
SegmentationTransform segmentation_train_transform(const SegmentationDataset& dataset, int crop_size = 0);
SegmentationTransform segmentation_eval_transform(const SegmentationDataset& dataset);

// The u8 steps (crop, flip) of one sample; `seed` drives them (same seed, same output).
SegmentationSample augment_segmentation(const SegmentationTransform& transform, SegmentationSample sample,
                                        uint64_t seed);

// ---------------------------------------------------------------------------------------------------------------
// Loader

struct SegmentationBatch {
  int64_t index = 0;                   // batch number within the epoch
  Tensor images;                       // f32 [B, H, W, C], normalised
  Tensor masks;                        // u8 [B, H, W]
  std::vector<int64_t> samples;        // [B] dataset index of each sample
  std::vector<SkippedSample> skipped;  // LoaderOptions::skip_bad_samples: the samples left out (B smaller)
};

// As Loader (resnet/data.h): the order of epoch e is a function of (seed, e), sample i's augmentation of
// (seed, e, i); results do not depend on the number of threads. LoaderOptions as for classification.
class SegmentationLoader {
 public:
  SegmentationLoader(std::shared_ptr<const SegmentationDataset> dataset, SegmentationTransform transform,
                     LoaderOptions options);
  ~SegmentationLoader();
  SegmentationLoader(const SegmentationLoader&) = delete;
  SegmentationLoader& operator=(const SegmentationLoader&) = delete;

  const SegmentationDataset& dataset() const;
  int64_t num_samples() const;
  int64_t num_batches() const;
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  void start_epoch(int64_t epoch);
  bool next(SegmentationBatch& batch);
  std::vector<SkippedSample> take_skipped();  // as Loader::take_skipped

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace resnet
