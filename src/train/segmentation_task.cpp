// Training a U-Net to segment: SegmentationLoader batches (joint crop + flip), ce | dice | ce+dice with an
// ignore index, pixel accuracy, and the test split's mIoU and per-class IoU (ConfusionMatrix).
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <ostream>

#include "resnet/load_state_dict.h"
#include "resnet/pretrained.h"
#include "resnet/segmentation_loss.h"
#include "resnet/unet.h"
#include "train/train_task.h"

namespace resnet {
namespace {

struct SegmentationDatasets {
  std::shared_ptr<const SegmentationDataset> train, test;
};

SegmentationDatasets open_datasets(const TrainConfig& c, const TrainHooks& hooks) {
  SegmentationDatasets d{hooks.segmentation_train_set, hooks.segmentation_test_set};
  const SegmentationOptions options{.ignore_index = c.ignore_index};
  if (!d.train) d.train = open_segmentation_dataset(c.dataset, c.data_dir, Split::train, options);
  if (!d.test) d.test = open_segmentation_dataset(c.dataset, c.data_dir, Split::test, options);
  check_splits(c.dataset, d.train->info(), d.train->size(), d.test->info(), d.test->size());
  return d;
}

// The height and width of a split's images: the dataset's one size, or (a folder of any sizes) its first
// image's.
std::pair<int, int> image_size_of(const SegmentationDataset& dataset) {
  if (const int side = dataset.info().image_size; side > 0) return {side, side};
  const Image first = dataset.get(0).image;
  return {first.height, first.width};
}

// A U-Net halves the size encoder_depth times: every side it sees must be a multiple of 2^depth. Checked
// before anything is written, on the training crop (or the training images) and the test images; a folder's
// later images of another size fail at their batch.
void check_input_size(const TrainConfig& c, const SegmentationDatasets& d) {
  const int multiple = 1 << c.encoder_depth;
  auto check = [&](std::pair<int, int> size, const std::string& what) {
    if (size.first % multiple != 0 || size.second % multiple != 0) {
      throw InputError(
          fmt::format("{} {}x{}: a U-Net of encoder depth {} needs a height and width that are "
                      "multiples of {} (2^depth)",
                      what, size.first, size.second, c.encoder_depth, multiple));
    }
  };
  if (c.augment && c.image_size > 0) {
    check({c.image_size, c.image_size}, "--image-size: a training crop of");
  } else {
    check(image_size_of(*d.train), fmt::format("{}: training images of", c.dataset));
  }
  check(image_size_of(*d.test), fmt::format("{}: test images of", c.dataset));
}

// Pixels whose predicted class equals the mask's, and pixels not ignored. masks u8 [N,H,W].
std::pair<int64_t, int64_t> correct_pixels(const Tensor& logits, const Tensor& masks, int ignore_index) {
  const Tensor predicted = predict_classes(logits);
  const auto* p = predicted.data_as<uint8_t>();
  const auto* t = masks.data_as<uint8_t>();
  int64_t correct = 0, counted = 0;
  for (int64_t i = 0, n = masks.numel(); i < n; ++i) {
    if (t[i] == ignore_index) continue;
    ++counted;
    correct += p[i] == t[i] ? 1 : 0;
  }
  return {correct, counted};
}

class SegmentationTask final : public LoaderTask<SegmentationLoader, SegmentationBatch> {
 public:
  SegmentationTask(TrainConfig& c, const TrainHooks& hooks, std::ostream& log)
      : config_(c), data_(open_datasets(c, hooks)), loss_(parse_segmentation_loss(c.loss)) {
    const DatasetInfo& info = data_.train->info();
    check_input_size(c, data_);
    model_ = std::make_unique<UNet>(
        unet_zoo_config(c.arch, info.num_classes(), info.channels, c.encoder_depth, c.decoder_channels),
        c.seed);
    if (!c.init_weights.empty() && !c.resume) {
      c.init_report = initialise(c.init_weights, !c.non_strict);
      log << c.init_report << "\n" << std::flush;
    }
    model_->freeze(c.freeze);
    model_->set_compute_dtype(c.precision == "bf16" ? DType::bf16 : DType::f32);
    model_->encoder().set_input_gradient(false);  // the images need none (torch: inputs do not require grad)
    encoder_prefix_ = model_->encoder().path() + ".";
    make_loaders();
  }

  const DatasetInfo& info() const override { return data_.train->info(); }
  Module& model() override { return *model_; }
  bool in_backbone(const std::string& name) const override { return name.starts_with(encoder_prefix_); }

  StepResult forward_loss() override {
    if (batch_.samples.empty()) return {};                 // every image of the batch was skipped
    const Tensor logits = model_->forward(batch_.images);  // [B,H,W,K]
    SegmentationLoss l = segmentation_loss(loss_, logits, batch_.masks, config_.ignore_index);
    grad_ = std::move(l.grad);
    const auto [correct, counted] = correct_pixels(logits, batch_.masks, config_.ignore_index);
    return {.loss = l.loss, .images = batch_.images.dim(0), .correct = correct, .counted = counted};
  }
  void backward() override { model_->backward(grad_); }

  TestResult evaluate(const std::function<void(int64_t)>& on_batch) override {
    const int classes = model_->config().classes;
    ConfusionMatrix confusion(classes == 1 ? 2 : classes, config_.ignore_index);
    model_->set_training(false);
    test_loader_->start_epoch(0);
    double loss_sum = 0.0;
    int64_t images = 0;
    SegmentationBatch batch;
    while (test_loader_->next(batch)) {
      if (batch.samples.empty()) continue;  // every image of the batch was skipped
      const Tensor logits = model_->forward(batch.images);
      const int64_t n = batch.images.dim(0);
      loss_sum += segmentation_loss(loss_, logits, batch.masks, config_.ignore_index).loss * double(n);
      confusion.add_logits(logits, batch.masks);
      images += n;
      on_batch(images);
    }
    return {.loss = images > 0 ? loss_sum / double(images) : 0.0,
            .accuracy = confusion.pixel_accuracy(),
            .miou = confusion.mean_iou(),
            .class_iou = confusion.per_class_iou()};
  }

 private:
  // A U-Net's own file (encoder.*, decoder.*, segmentation_head.*) loads as a whole; a classifier's
  // (torchvision names) loads into the encoder by the transfer-learning rules (resnet/pretrained.h).
  std::string initialise(const std::string& file, bool strict) {
    StateDict tensors = read_pretrained_weights(file);
    const bool whole_unet = std::any_of(tensors.begin(), tensors.end(), [](const NamedTensor& t) {
      return t.name.starts_with("decoder.") || t.name.starts_with("segmentation_head.");
    });
    if (!whole_unet)
      return load_pretrained(model_->encoder(), std::move(tensors), file, {.strict = strict}).describe();
    const LoadReport report = load_state_dict(*model_, tensors, strict, file);
    const size_t skipped = report.missing.size() + report.unexpected.size() + report.mismatched.size();
    std::string text =
        fmt::format("init: {} tensors loaded from {} (a U-Net: encoder, decoder and head)",
                    model_->state_dict().size() - report.missing.size() - report.mismatched.size(),
                    std::filesystem::path(file).filename().string());
    if (skipped > 0) text += "; skipped: " + report.describe();
    return text;
  }

  void make_loaders() {
    const TrainConfig& c = config_;
    const SegmentationTransform train_transform =
        c.augment ? segmentation_train_transform(*data_.train, c.image_size)
                  : segmentation_eval_transform(*data_.train);
    train_loader_ = std::make_unique<SegmentationLoader>(data_.train, train_transform,
                                                         train_loader_options(c, data_.train->size()));
    const LoaderOptions test_options{.batch_size = c.batch_size,
                                     .shuffle = false,
                                     .threads = c.workers,
                                     .subset = c.test_subset,
                                     .skip_bad_samples = c.skip_bad_images};
    test_loader_ = std::make_unique<SegmentationLoader>(data_.test, segmentation_eval_transform(*data_.test),
                                                        test_options);
  }

  const TrainConfig& config_;
  SegmentationDatasets data_;
  SegmentationLossKind loss_;
  std::unique_ptr<UNet> model_;
  std::string encoder_prefix_;
  Tensor grad_;
};

}  // namespace

std::unique_ptr<TrainTask> make_segmentation_task(TrainConfig& config, const TrainHooks& hooks,
                                                  std::ostream& log) {
  return std::make_unique<SegmentationTask>(config, hooks, log);
}

}  // namespace resnet
