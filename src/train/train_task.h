// What differs between training a classifier and a segmenter, behind one interface, so that the trainer
// (trainer.cpp) is one loop for both: the task opens the datasets, builds the model (with --init-weights,
// --freeze and the precision applied), makes the loaders, runs a batch's forward + loss and backward with its
// counts, and evaluates the test split. Optimizer, schedule, checkpoints, resume, divergence checks and the
// progress bar belong to the loop.
//   classification_task.cpp: a zoo ResNet, Loader, softmax cross-entropy, top-1 accuracy (evaluate()).
//   segmentation_task.cpp:   a U-Net, SegmentationLoader, ce | dice | ce+dice, pixel accuracy and mIoU.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "resnet/data.h"
#include "resnet/module.h"
#include "resnet/train.h"

namespace resnet {

// One training batch: its mean loss and what the accuracy counts.
struct StepResult {
  double loss = 0.0;    // the batch's loss (a mean over its images or pixels)
  int64_t images = 0;   // images in the batch
  int64_t correct = 0;  // classification: images right; segmentation: pixels right
  int64_t counted = 0;  // classification: images; segmentation: pixels not ignored
};

// The test split's numbers.
struct TestResult {
  double loss = 0.0;      // mean over the images
  double accuracy = 0.0;  // top-1, or pixel accuracy
  int64_t images = 0;     // classification: images evaluated (of this rank's shard) and those right, so
  int64_t correct = 0;    // that a data-parallel run can sum them over the ranks
  std::optional<double> miou;
  std::vector<double> class_iou;
};

class TrainTask {
 public:
  virtual ~TrainTask() = default;

  // The training split's info (what config.json records).
  virtual const DatasetInfo& info() const = 0;
  virtual Module& model() = 0;
  // Whether a parameter trains at --lr-backbone (all but the classifier; a U-Net's encoder).
  virtual bool in_backbone(const std::string& parameter_name) const = 0;

  virtual int64_t train_batches() const = 0;  // per epoch
  virtual void start_train_epoch(int64_t epoch) = 0;
  // Takes the epoch's next batch; false when the epoch is over.
  virtual bool next_train_batch() = 0;
  // The batch through the model in train mode and the loss; the loss's gradient is kept for backward().
  // A batch whose every image was skipped (--skip-bad-images) gives images = 0 and needs no backward().
  virtual StepResult forward_loss() = 0;
  virtual void backward() = 0;
  // Data-parallel training: multiplies the loss gradient kept by forward_loss() by `factor` (this rank's
  // share of the global batch) before backward(), so that the gradients summed over the ranks are those of
  // the global batch's mean loss. Tasks that do not train across ranks throw InputError.
  virtual void scale_loss_gradient(float factor);
  // The images both loaders left out (--skip-bad-images) since the last call, training split first.
  virtual std::vector<SkippedSample> take_skipped() = 0;

  virtual int64_t test_batches() const = 0;
  // The model in eval mode over the test split; on_batch(images so far) after each batch.
  virtual TestResult evaluate(const std::function<void(int64_t images)>& on_batch) = 0;
};

// The loader plumbing both tasks share: a training and a test loader of one kind (Loader + Batch, or
// SegmentationLoader + SegmentationBatch), the epoch's batches and what both loaders skipped. A task derives
// from it, makes the two loaders in its constructor and reads batch_ in forward_loss().
template <class LoaderT, class BatchT>
class LoaderTask : public TrainTask {
 public:
  int64_t train_batches() const override { return train_loader_->num_batches(); }
  void start_train_epoch(int64_t epoch) override {
    model().set_training(true);
    train_loader_->start_epoch(epoch);
  }
  bool next_train_batch() override { return train_loader_->next(batch_); }
  std::vector<SkippedSample> take_skipped() override {
    std::vector<SkippedSample> out = train_loader_->take_skipped();
    for (SkippedSample& s : test_loader_->take_skipped()) out.push_back(std::move(s));
    return out;
  }
  int64_t test_batches() const override { return test_loader_->num_batches(); }

 protected:
  std::unique_ptr<LoaderT> train_loader_, test_loader_;
  BatchT batch_;
};

// Opens the datasets and builds the model and loaders of config.task. A fresh run with --init-weights loads
// them, records the report in config.init_report and prints it to `log`. Throws InputError for bad input.
std::unique_ptr<TrainTask> make_train_task(TrainConfig& config, const TrainHooks& hooks, std::ostream& log);
std::unique_ptr<TrainTask> make_classification_task(TrainConfig& config, const TrainHooks& hooks,
                                                    std::ostream& log);
std::unique_ptr<TrainTask> make_segmentation_task(TrainConfig& config, const TrainHooks& hooks,
                                                  std::ostream& log);

// What both tasks ask of a dataset's splits: the same class names and channels, at least 2 training images
// and 1 test image. InputError naming `dataset` otherwise.
void check_splits(const std::string& dataset, const DatasetInfo& train, int64_t train_size,
                  const DatasetInfo& test, int64_t test_size);

// The training loader's options: shuffled and seeded by --seed, --workers threads, --subset (InputError if it
// leaves fewer than 2 images of the `train_size`). Batch norm needs more than one value per channel: a last
// batch of a single image is dropped.
LoaderOptions train_loader_options(const TrainConfig& config, int64_t train_size);
// The same for a data-parallel run: this rank's shard of every global batch (LoaderOptions::shard). Throws
// InputError when --batch-size is not divisible by the ranks or the epoch's last batch has fewer images than
// ranks.
LoaderOptions train_loader_options(const TrainConfig& config, int64_t train_size, const TrainHooks& hooks);

}  // namespace resnet
