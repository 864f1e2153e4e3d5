// Training a zoo ResNet to classify: Loader batches, softmax cross-entropy, top-1 accuracy.
#include <fmt/format.h>

#include <numeric>
#include <ostream>

#include "core/communicator.h"
#include "data/batch_pipeline.h"
#include "resnet/loss.h"
#include "resnet/pretrained.h"
#include "train/mixup.h"
#include "train/train_task.h"

namespace resnet {
namespace {

constexpr int64_t kEvalBatchSize = 256;

// The seed of one training batch's mixup/cutmix draw, apart from every sample's augmentation seed.
uint64_t mix_batch_seed(uint64_t seed, int64_t epoch, int64_t batch) {
  return mix_seed(sample_seed(seed ^ 0x6d69787570ull, epoch, batch));
}

struct Datasets {
  std::shared_ptr<const Dataset> train, test;
};

Datasets open_datasets(const TrainConfig& c, const TrainHooks& hooks) {
  Datasets d{hooks.train_set, hooks.test_set};
  if (!d.train) d.train = open_dataset(c.dataset, c.data_dir, Split::train);
  if (!d.test) d.test = open_dataset(c.dataset, c.data_dir, Split::test);
  if (!c.classes.empty()) {
    d.train = select_classes(d.train, c.classes, c.per_class);
    d.test = select_classes(d.test, c.classes);
  } else if (c.per_class > 0) {
    std::vector<int> all(size_t(d.train->num_classes()));
    std::iota(all.begin(), all.end(), 0);
    d.train = select_classes(d.train, all, c.per_class);
  }
  check_splits(c.dataset, d.train->info(), d.train->size(), d.test->info(), d.test->size());
  return d;
}

class ClassificationTask final : public LoaderTask<Loader, Batch> {
 public:
  ClassificationTask(TrainConfig& c, const TrainHooks& hooks, std::ostream& log)
      : config_(c), hooks_(hooks), data_(open_datasets(c, hooks)) {
    const DatasetInfo& info = data_.train->info();
    ResNetConfig model_config = model_config_for(c.arch, c.stem, info);
    model_config.dropout = c.dropout;
    model_ = std::make_unique<ResNet>(model_config, c.seed);
    // A fresh run that starts from pretrained weights loads them (a resumed one has them in its checkpoint);
    // across ranks only rank 0 reads them, and the trainer broadcasts its model.
    const bool reads_files = hooks.communicator == nullptr || hooks.communicator->rank() == 0;
    if (!c.init_weights.empty() && !c.resume && reads_files) {
      c.init_report = load_pretrained(*model_, c.init_weights, {.strict = !c.non_strict}).describe();
      log << c.init_report << "\n" << std::flush;
    }
    model_->freeze(c.freeze);
    // bf16: mixed precision (ResNet::set_compute_dtype); the per-epoch evaluation runs in it too, as training
    // under torch.autocast evaluates.
    model_->set_compute_dtype(c.precision == "bf16" ? DType::bf16 : DType::f32);
    model_->set_input_gradient(false);  // the images need none (torch: inputs do not require grad)
    classifier_prefix_ = model_->children().back()->path() + ".";
    make_loaders(info);
  }

  const DatasetInfo& info() const override { return data_.train->info(); }
  Module& model() override { return *model_; }
  bool in_backbone(const std::string& name) const override { return !name.starts_with(classifier_prefix_); }

  void start_train_epoch(int64_t epoch) override {
    LoaderTask::start_train_epoch(epoch);
    epoch_ = epoch;
  }

  StepResult forward_loss() override {
    if (batch_.labels.empty()) return {};  // every image of the batch was skipped
    const bool mix = config_.mixup > 0.0 || config_.cutmix > 0.0;
    Tensor targets;
    if (mix) {  // seeded by (seed, epoch, batch): a resumed run mixes its batches as the first session would
      Rng rng(mix_batch_seed(config_.seed, epoch_, batch_.index));
      const MixChoice choice =
          draw_mix(config_.mixup, config_.cutmix, int(batch_.images.dim(1)), int(batch_.images.dim(2)), rng);
      targets = apply_mix(choice, batch_.images, batch_.labels, info().num_classes());
    }
    const Tensor logits = model_->forward(batch_.images);
    CrossEntropy ce = mix ? soft_target_cross_entropy(logits, targets, config_.label_smoothing)
                          : softmax_cross_entropy(logits, batch_.labels, config_.label_smoothing);
    grad_ = std::move(ce.grad);
    const int64_t n = int64_t(batch_.labels.size());
    return {.loss = ce.loss, .images = n, .correct = ce.correct, .counted = n};
  }
  void backward() override { model_->backward(grad_); }
  void scale_loss_gradient(float factor) override {
    float* g = grad_.f32();
    for (int64_t i = 0, n = grad_.numel(); i < n; ++i) g[i] *= factor;
  }

  TestResult evaluate(const std::function<void(int64_t)>& on_batch) override {
    int64_t images = 0;
    const EvalResult r =
        resnet::evaluate(*model_, *test_loader_, config_.label_smoothing, [&](const Batch& b, const Tensor&) {
          images += int64_t(b.labels.size());
          on_batch(images);
        });
    return {.loss = r.loss, .accuracy = r.top1(), .images = r.count, .correct = r.top1_correct};
  }

 private:
  void make_loaders(const DatasetInfo& info) {
    const TrainConfig& c = config_;
    TransformSpec train_spec =
        c.augment ? train_transform(info, c.image_size) : eval_transform(info, c.image_size);
    if (c.auto_augment != "none") train_spec.auto_augment = c.auto_augment;
    train_spec.random_erasing = c.random_erasing;
    train_loader_ = std::make_unique<Loader>(data_.train, train_spec,
                                             train_loader_options(c, data_.train->size(), hooks_));
    LoaderOptions test_options{.batch_size = std::max(c.batch_size, kEvalBatchSize),
                               .shuffle = false,
                               .threads = c.workers,
                               .subset = c.test_subset,
                               .skip_bad_samples = c.skip_bad_images};
    if (const Communicator* comm = hooks_.communicator) {  // each rank evaluates its part of every batch
      test_options.shard = comm->rank();
      test_options.shards = comm->size();
    }
    test_loader_ = std::make_unique<Loader>(data_.test, eval_transform(info, c.image_size), test_options);
  }

  const TrainConfig& config_;
  const TrainHooks& hooks_;
  Datasets data_;
  std::unique_ptr<ResNet> model_;
  std::string classifier_prefix_;
  Tensor grad_;
  int64_t epoch_ = 0;
};

}  // namespace

std::unique_ptr<TrainTask> make_classification_task(TrainConfig& config, const TrainHooks& hooks,
                                                    std::ostream& log) {
  return std::make_unique<ClassificationTask>(config, hooks, log);
}

std::unique_ptr<TrainTask> make_train_task(TrainConfig& config, const TrainHooks& hooks, std::ostream& log) {
  return is_segmentation(config) ? make_segmentation_task(config, hooks, log)
                                 : make_classification_task(config, hooks, log);
}

}  // namespace resnet
