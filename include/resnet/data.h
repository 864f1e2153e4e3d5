// Data for training and evaluation: datasets (IDX, CIFAR binary, image folders), torchvision-style transforms
// and a threaded, prefetching, deterministic loader.
//
//   std::shared_ptr<const resnet::Dataset> train =
//       resnet::open_dataset("fashion-mnist", "", resnet::Split::train);
//   resnet::Loader loader(train, resnet::train_transform(train->info()), {.batch_size = 128, .seed = 1});
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     loader.start_epoch(epoch);
//     resnet::Batch batch;
//     while (loader.next(batch)) { /* batch.images f32 [B,H,W,C], batch.labels [B] */ }
//   }
//
// Pixels are u8 HWC until the last transform step (ToTensor + Normalize) turns them into f32 NHWC batches.
// Every error about a file is an InputError whose message starts with the file's path.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "resnet/image.h"
#include "resnet/tensor.h"

namespace resnet {

// ---------------------------------------------------------------------------------------------------------------
// Image files

// The .jpg, .jpeg and .png files (extension in any case) under `dir` and its sub-folders, in os.walk order
// with sorted folders and file names (as ImageFolder lists a class folder); other files are skipped.
std::vector<std::string> find_images(const std::string& dir);

// ---------------------------------------------------------------------------------------------------------------
// Datasets

enum class Split { train, test };

// What a model and a transform need to know about a dataset.
struct DatasetInfo {
  std::string name;                      // "fashion-mnist", "mnist", "cifar10", "cifar100", "folder"
  std::vector<std::string> class_names;  // label i is class_names[i]
  int channels = 0;                      // channels of every sample
  int image_size = 0;                    // height = width of every sample; 0 if images differ (folders)
  std::vector<float> mean, std;          // per channel, of pixels / 255 (for Normalize)
  bool mirror_invariant = true;          // a mirrored sample is still a valid sample (false for digits)

  int num_classes() const { return static_cast<int>(class_names.size()); }
};

struct Sample {
  Image image;
  int64_t label = 0;
};

// An indexable labelled image set. get() and label() are safe to call from several threads at once.
class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual const DatasetInfo& info() const = 0;
  virtual int64_t size() const = 0;
  virtual Sample get(int64_t index) const = 0;     // decodes if needed; throws InputError for a bad file
  virtual int64_t label(int64_t index) const = 0;  // without decoding the image

  int num_classes() const { return info().num_classes(); }
  int channels() const { return info().channels; }
  const std::vector<std::string>& class_names() const { return info().class_names; }
};

std::unique_ptr<Dataset> make_memory_dataset(ImageArray images, DatasetInfo info);

struct DatasetOptions {
  // 0 = the dataset's own (folders: 3). 1 or 3 converts every image as PIL's convert("L"/"RGB"); mean and std
  // follow (replicated, or luma-weighted for gray).
  int channels = 0;
};

// name: "fashion-mnist" | "mnist" (IDX, optionally .gz: train-images-idx3-ubyte[.gz],
// train-labels-idx1-ubyte[.gz], t10k-…), "cifar10" (data_batch_1..5.bin, test_batch.bin), "cifar100"
// (train.bin, test.bin; fine labels), "folder" (data_dir/train/<class>/*.{jpg,jpeg,png} and data_dir/val/ or
// data_dir/test/ for Split::test; classes are the sorted sub-folder names of train/, as torchvision's
// ImageFolder). CIFAR also accepts the tarballs' folders (data_dir/cifar-10-batches-bin,
// data_dir/cifar-100-binary). An empty data_dir means default_data_dir(name).
std::unique_ptr<Dataset> open_dataset(const std::string& name, const std::string& data_dir, Split split,
                                      const DatasetOptions& options = {});
// The samples of `classes` only (indices into dataset's class names), relabelled 0..k-1 in the order given
// and with their names kept; per_class > 0 keeps only the first per_class samples of each class, in the
// dataset's order. Throws InputError for an unknown or repeated class.
std::unique_ptr<Dataset> select_classes(std::shared_ptr<const Dataset> dataset,
                                        const std::vector<int>& classes, int64_t per_class = 0);
// "/usr/share/datasets/fashion-mnist" for fashion-mnist (Debian's dataset-fashion-mnist); "" for the others.
std::string default_data_dir(const std::string& name);
// The names open_dataset accepts.
std::vector<std::string> dataset_names();

// ImageNet-1k as torchvision's classifiers see it: the 1000 class names in torchvision's order, 3 channels,
// images of any size (image_size 0, so eval_transform gives Resize(S * 256 / 224) + CenterCrop(S)),
// ImageNet's mean and std.
DatasetInfo imagenet_info();
// The 1000 ImageNet-1k class names (torchvision's _IMAGENET_CATEGORIES; src/data/imagenet_classes.cpp).
const std::vector<std::string>& imagenet_class_names();

// ---------------------------------------------------------------------------------------------------------------
// Transforms (torchvision semantics on PIL images)

// The steps, applied in this order when enabled (0 / false / empty = off):
//   Resize(resize) → CenterCrop(center_crop) → RandomResizedCrop(random_resized_crop, scale, ratio)
//   → RandomCrop(random_crop, padding=crop_padding, fill 0) → RandomHorizontalFlip(0.5) → ToTensor →
//   Normalize.
// Resizing is bilinear with PIL's antialiasing (a triangle filter widened by the scale factor when
// shrinking).
struct TransformSpec {
  int resize = 0;  // the shorter side becomes `resize`, the longer keeps the aspect ratio (truncated)
  int center_crop = 0;
  int random_resized_crop = 0;
  double scale_min = 0.08, scale_max = 1.0;             // of the area
  double ratio_min = 3.0 / 4.0, ratio_max = 4.0 / 3.0;  // width / height
  int random_crop = 0;
  int crop_padding = 0;
  bool horizontal_flip = false;
  // After the flip, on u8 pixels: "ta_wide" (TrivialAugmentWide) | "ra" (RandAugment(2, 9)) | "" (none);
  // src/data/auto_augment.h.
  std::string auto_augment;
  std::vector<float> mean, std;  // per channel; empty = pixels / 255 only
  // After Normalize: RandomErasing(p = random_erasing) with torchvision's defaults; 0 = off.
  double random_erasing = 0.0;
};

// The reference recipes. image_size 0 = the dataset's own size (224 for folders).
// Fixed-size datasets: train = RandomCrop(size, padding=4) + flip (if mirror-invariant) + Normalize, eval =
// Normalize (both start with Resize(image_size) if it differs from the dataset's size). Folders: train =
// RandomResizedCrop(size)
// + flip + Normalize, eval = Resize(size * 256 / 224) + CenterCrop(size) + Normalize.
TransformSpec train_transform(const DatasetInfo& info, int image_size = 0);
TransformSpec eval_transform(const DatasetInfo& info, int image_size = 0);

// One image through the transform: f32 [H, W, C]. `seed` drives the random steps (same seed, same output).
Tensor apply_transform(const TransformSpec& spec, const Image& image, uint64_t seed);

// The geometric steps, for callers that compose their own pipeline.
// Pixels outside the image read as 0 (as torchvision's pad-then-crop).
Image crop_image(const Image& image, int top, int left, int height, int width);
Image resize_image(const Image& image, int height, int width);  // bilinear, antialiased (PIL)
Image resize_shorter_side(const Image& image, int size);        // torchvision Resize(int)
Image center_crop(const Image& image, int size);                // torchvision CenterCrop(int)
Image flip_horizontal(const Image& image);

// ---------------------------------------------------------------------------------------------------------------
// Loader

struct LoaderOptions {
  int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;  // drop the last, smaller batch
  uint64_t seed = 0;       // shuffling and augmentation; results do not depend on `threads`
  int threads = 2;         // worker threads decoding and augmenting; 0 = on the caller's thread inside next()
  int prefetch = 4;        // batches ready or in progress ahead of the consumer (at least `threads`)
  int64_t subset = 0;      // > 0: only the first `subset` samples of the dataset (overfit tests)
  // A sample whose reading throws an InputError (a corrupt image file) is left out of its batch instead of
  // failing the epoch: the batch is that much smaller (possibly empty) and lists it in `skipped`. Which
  // samples a batch holds still depends on nothing but the batch number.
  bool skip_bad_samples = false;
  // Data-parallel training: of each batch of `batch_size` (the global batch), only the contiguous part
  // [begin + len * shard / shards, begin + len * (shard + 1) / shards) of its len samples, so that the shards
  // of an epoch are disjoint and together are the one-process epoch, batch by batch. 1 shard: all of it.
  int shard = 0;
  int shards = 1;
};

// A sample a loader left out (LoaderOptions::skip_bad_samples): its dataset index and the error, which names
// the file.
struct SkippedSample {
  int64_t index = 0;
  std::string reason;
};

struct Batch {
  int64_t index = 0;             // batch number within the epoch
  Tensor images;                 // f32 [B, H, W, C]; B = 0 (no tensor) if every sample was skipped
  std::vector<int64_t> labels;   // [B]
  std::vector<int64_t> samples;  // [B] dataset index of each image
  std::vector<SkippedSample> skipped;
};

// Batches of one epoch at a time. The sample order of epoch e is a function of (seed, e) only, and sample i's
// augmentation of (seed, e, i) only, so an interrupted run resumes at an epoch boundary by calling
// start_epoch(e).
class Loader {
 public:
  Loader(std::shared_ptr<const Dataset> dataset, TransformSpec transform, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  const Dataset& dataset() const;
  const LoaderOptions& options() const;
  int64_t num_samples() const;  // per epoch (the subset if any)
  int64_t num_batches() const;  // per epoch
  // Dataset indices in the order epoch `epoch` visits them.
  std::vector<int64_t> epoch_order(int64_t epoch) const;

  // Begins epoch `epoch` (abandoning any unfinished one) and starts the workers on its first batches.
  void start_epoch(int64_t epoch);
  // The next batch of the current epoch; false when the epoch is over. Rethrows a worker's error (e.g. the
  // InputError of an undecodable image) for the batch that hit it.
  bool next(Batch& batch);
  // The samples the batches taken by next() since the last call left out (LoaderOptions::skip_bad_samples),
  // in order.
  std::vector<SkippedSample> take_skipped();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace resnet
