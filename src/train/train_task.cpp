// The parts of opening data and loaders that classification_task.cpp and segmentation_task.cpp share.
#include "train/train_task.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/communicator.h"
#include "resnet/error.h"

namespace resnet {

void check_splits(const std::string& dataset, const DatasetInfo& train, int64_t train_size,
                  const DatasetInfo& test, int64_t test_size) {
  if (train.class_names != test.class_names || train.channels != test.channels) {
    throw InputError(
        fmt::format("{}: the test split has {} classes and {} channels, the training split {} and {}",
                    dataset, test.num_classes(), test.channels, train.num_classes(), train.channels));
  }
  if (train_size < 2) throw InputError(fmt::format("{}: training needs at least 2 images", dataset));
  if (test_size < 1) throw InputError(fmt::format("{}: the test split is empty", dataset));
}

LoaderOptions train_loader_options(const TrainConfig& c, int64_t train_size) {
  const int64_t samples = c.subset > 0 ? std::min(c.subset, train_size) : train_size;
  if (samples < 2) throw InputError(fmt::format("--subset {}: training needs at least 2 images", c.subset));
  return {.batch_size = c.batch_size,
          .shuffle = true,
          .drop_last = samples % c.batch_size == 1,
          .seed = c.seed,
          .threads = c.workers,
          .subset = c.subset,
          .skip_bad_samples = c.skip_bad_images};
}

void TrainTask::scale_loss_gradient(float) {
  throw InputError("this task does not train across ranks (data-parallel training is for classification)");
}

LoaderOptions train_loader_options(const TrainConfig& c, int64_t train_size, const TrainHooks& hooks) {
  LoaderOptions o = train_loader_options(c, train_size);
  const int ranks = hooks.communicator != nullptr ? hooks.communicator->size() : 1;
  if (ranks == 1) return o;
  if (c.batch_size % ranks != 0) {
    throw InputError(fmt::format("--batch-size {} (the global batch) is not divisible by the {} ranks",
                                 c.batch_size, ranks));
  }
  const int64_t samples = c.subset > 0 ? std::min(c.subset, train_size) : train_size;
  const int64_t last = o.drop_last ? 0 : samples % c.batch_size;
  if (last > 0 && last < ranks) {
    throw InputError(
        fmt::format("the epoch's last batch of {} images (of {}) cannot give each of the {} "
                    "ranks an image: choose another --batch-size or --subset",
                    last, samples, ranks));
  }
  o.shard = hooks.communicator->rank();
  o.shards = ranks;
  return o;
}

}  // namespace resnet
