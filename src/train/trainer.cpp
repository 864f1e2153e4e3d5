// The training loop: epochs of forward -> loss -> backward -> optimizer step, evaluation after each, and a
// checkpoint (checkpoint.h) that --resume continues from exactly.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <numeric>

#include "dnnl/ops.h"
#include "resnet/load_state_dict.h"
#include "resnet/loss.h"
#include "resnet/optim.h"
#include "resnet/pretrained.h"
#include "resnet/train.h"
#include "train/checkpoint.h"
#include "train/progress.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int64_t kEvalBatchSize = 256;

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
  if (d.train->class_names() != d.test->class_names() || d.train->channels() != d.test->channels()) {
    throw InputError(fmt::format(
        "{}: the test split has {} classes and {} channels, the training split {} and {}", c.dataset,
        d.test->num_classes(), d.test->channels(), d.train->num_classes(), d.train->channels()));
  }
  if (d.train->size() < 2) throw InputError(fmt::format("{}: training needs at least 2 images", c.dataset));
  if (d.test->size() < 1) throw InputError(fmt::format("{}: the test split is empty", c.dataset));
  return d;
}

std::unique_ptr<Optimizer> make_optimizer(const TrainConfig& c, std::vector<Parameter*> params) {
  if (c.optimizer == "adamw") {
    return std::make_unique<AdamW>(std::move(params), AdamWOptions{.lr = *c.lr,
                                                                   .beta1 = c.momentum,
                                                                   .weight_decay = *c.weight_decay,
                                                                   .decay_bn_and_bias = c.decay_bn_and_bias});
  }
  return std::make_unique<Sgd>(std::move(params), SgdOptions{.lr = *c.lr,
                                                             .momentum = c.momentum,
                                                             .weight_decay = *c.weight_decay,
                                                             .nesterov = c.nesterov,
                                                             .decay_bn_and_bias = c.decay_bn_and_bias});
}

// Everything one run holds.
struct Run {
  TrainConfig config;
  RunFiles files;
  Datasets data;
  std::unique_ptr<ResNet> model;
  std::vector<Parameter*> params;
  std::unique_ptr<Optimizer> optimizer;
  std::unique_ptr<Loader> train_loader, test_loader;
  int64_t steps_per_epoch = 0;
  LrSchedule schedule;
  RunProgress progress;
  std::ostream* log = nullptr;
  bool show_progress = true;
};

// A fresh run that starts from pretrained weights loads them (a resumed one has them in its checkpoint).
void initialise_from_pretrained(Run& run) {
  TrainConfig& c = run.config;
  if (c.init_weights.empty() || c.resume) return;
  const PretrainedReport report = load_pretrained(*run.model, c.init_weights, {.strict = !c.non_strict});
  c.init_report = report.describe();
  *run.log << c.init_report << "\n" << std::flush;
}

void build(Run& run) {
  const TrainConfig& c = run.config;
  const DatasetInfo& info = run.data.train->info();
  ResNetConfig model_config = model_config_for(c.arch, c.stem, info);
  model_config.dropout = c.dropout;
  run.model = std::make_unique<ResNet>(model_config, c.seed);
  initialise_from_pretrained(run);
  run.model->freeze(c.freeze);
  // bf16: mixed precision (ResNet::set_compute_dtype); the per-epoch evaluation runs in it too, as training
  // under torch.autocast evaluates.
  run.model->set_compute_dtype(c.precision == "bf16" ? DType::bf16 : DType::f32);
  run.params = run.model->parameters();
  run.optimizer = make_optimizer(c, run.params);
  // Discriminative fine-tuning: every parameter but the classifier's at --lr-backbone.
  const std::string classifier = run.model->children().back()->path() + ".";
  for (size_t i = 0; i < run.params.size(); ++i) {
    if (!run.params[i]->name.starts_with(classifier)) run.optimizer->set_lr_factor(i, *c.lr_backbone / *c.lr);
  }

  const TransformSpec train_spec =
      c.augment ? train_transform(info, c.image_size) : eval_transform(info, c.image_size);
  LoaderOptions train_options{
      .batch_size = c.batch_size, .shuffle = true, .seed = c.seed, .threads = c.workers, .subset = c.subset};
  // Batch norm needs more than one value per channel: a last batch of a single image is dropped.
  const int64_t train_samples =
      c.subset > 0 ? std::min(c.subset, run.data.train->size()) : run.data.train->size();
  if (train_samples < 2)
    throw InputError(fmt::format("--subset {}: training needs at least 2 images", c.subset));
  train_options.drop_last = train_samples % c.batch_size == 1;
  run.train_loader = std::make_unique<Loader>(run.data.train, train_spec, train_options);
  LoaderOptions test_options{.batch_size = std::max(c.batch_size, kEvalBatchSize),
                             .shuffle = false,
                             .threads = c.workers,
                             .subset = c.test_subset};
  run.test_loader = std::make_unique<Loader>(run.data.test, eval_transform(info, c.image_size), test_options);

  run.steps_per_epoch = run.train_loader->num_batches();
  if (c.max_steps_per_epoch > 0) run.steps_per_epoch = std::min(run.steps_per_epoch, c.max_steps_per_epoch);
  run.schedule = make_lr_schedule(c.schedule, *c.lr, c.epochs, run.steps_per_epoch, c.warmup_epochs);
}

// The run in out_dir: a fresh one (refusing to overwrite a committed run) or the committed state of one.
void prepare_out_dir(Run& run) {
  const TrainConfig& c = run.config;
  if (c.resume) {
    RunState state = load_run_state(run.files);
    const std::vector<std::string> diffs = train_config_differences(c, state.config);
    if (!diffs.empty()) {
      throw InputError(fmt::format("--resume: {} from the run in {}: {}",
                                   diffs.size() == 1 ? "a flag differs" : "flags differ", c.out_dir,
                                   fmt::join(diffs, "; ")));
    }
    load_state_dict(*run.model, state.model, true, run.files.state());
    run.optimizer->load_state_dict(state.optimizer, run.files.state());
    run.progress = std::move(state.progress);
    if (run.progress.step != run.progress.epochs_done * run.steps_per_epoch) {
      throw InputError(fmt::format("{}: {} steps for {} epochs of {} steps: not this run's state",
                                   run.files.state(), run.progress.step, run.progress.epochs_done,
                                   run.steps_per_epoch));
    }
    remove_stale_temp_files(run.files);
    write_run_config(run.files, c, run.data.train->info());
    rewrite_derived_files(run.files, c, *run.model, run.progress);
    return;
  }
  if (fs::exists(run.files.state())) {
    throw InputError(
        fmt::format("{}: already holds a training run (state.safetensors); pass --resume to continue it "
                    "or choose another --out",
                    c.out_dir));
  }
  std::error_code ec;
  fs::create_directories(c.out_dir, ec);
  if (ec || !fs::is_directory(c.out_dir)) {
    throw InputError(fmt::format("{}: cannot create the output folder ({})", c.out_dir, ec.message()));
  }
  remove_stale_temp_files(run.files);
  write_run_config(run.files, c, run.data.train->info());
}

[[noreturn]] void diverged(const Run& run, int64_t epoch, const std::string& what) {
  const RunProgress& p = run.progress;
  const std::string kept =
      p.epochs_done > 0
          ? fmt::format("kept the checkpoint of epoch {} in {}", p.epochs_done, run.config.out_dir)
          : std::string("no epoch had completed, so no checkpoint was written");
  throw TrainingDiverged(
      fmt::format("training diverged in epoch {} (step {}, lr {:.4g}): {} (try a lower --lr); {}", epoch,
                  p.step, run.optimizer->lr(), what, kept));
}

// The first parameter or buffer with a NaN or infinite value, or "" if all are finite.
std::string first_non_finite(Module& model) {
  for (const NamedTensor& t : model.state_dict()) {
    if (t.tensor.dtype() != DType::f32) continue;
    const float* p = t.tensor.f32();
    for (int64_t i = 0, n = t.tensor.numel(); i < n; ++i) {
      if (!std::isfinite(p[i])) return t.name;
    }
  }
  return "";
}

struct EpochTotals {
  double loss_sum = 0.0;
  int64_t correct = 0, images = 0;
};

// One pass over the training split (at most steps_per_epoch batches). epoch: 0-based.
EpochTotals train_epoch(Run& run, int64_t epoch) {
  ResNet& model = *run.model;
  Optimizer& optimizer = *run.optimizer;
  model.set_training(true);
  run.train_loader->start_epoch(epoch);
  ProgressBar bar(std::cerr, run.show_progress, fmt::format("epoch {}/{}", epoch + 1, run.config.epochs),
                  run.steps_per_epoch);
  EpochTotals t;
  Batch batch;
  for (int64_t s = 0; s < run.steps_per_epoch && run.train_loader->next(batch); ++s) {
    const int64_t step = run.progress.step;
    optimizer.set_lr(run.schedule.lr_at(step));
    if (std::optional<double> momentum = run.schedule.momentum_at(step)) optimizer.set_momentum(*momentum);
    model.zero_grad();
    const Tensor logits = model.forward(batch.images);
    const CrossEntropy ce = softmax_cross_entropy(logits, batch.labels, run.config.label_smoothing);
    if (!std::isfinite(ce.loss)) diverged(run, epoch + 1, fmt::format("the loss is {}", ce.loss));
    model.backward(ce.grad);
    const double norm = run.config.clip_grad_norm > 0 ? clip_grad_norm(run.params, run.config.clip_grad_norm)
                                                      : grad_norm(run.params);
    if (!std::isfinite(norm)) diverged(run, epoch + 1, fmt::format("the gradient norm is {}", norm));
    optimizer.step();
    ++run.progress.step;

    const int64_t n = int64_t(batch.labels.size());
    t.loss_sum += ce.loss * double(n);
    t.correct += ce.correct;
    t.images += n;
    bar.update(s + 1, t.images, t.loss_sum / double(t.images), double(t.correct) / double(t.images));
  }
  return t;
}

EvalResult test_epoch(Run& run, int64_t epoch) {
  ProgressBar bar(std::cerr, run.show_progress, fmt::format("test  {}/{}", epoch + 1, run.config.epochs),
                  run.test_loader->num_batches());
  int64_t done = 0, images = 0;
  return evaluate(*run.model, *run.test_loader, run.config.label_smoothing,
                  [&](const Batch& b, const Tensor&) {
                    images += int64_t(b.labels.size());
                    bar.update(++done, images, -1.0, 0.0);
                  });
}

void log_epoch(const Run& run, const EpochMetrics& m, bool best) {
  *run.log
      << fmt::format(
             "epoch {:>{}}/{}  train loss {:.4f} acc {:6.2f}%  test loss {:.4f} acc {:6.2f}%  lr {:.4g}  "
             "{:.1f} s{}\n",
             m.epoch, std::to_string(run.config.epochs).size(), run.config.epochs, m.train_loss,
             100 * m.train_acc, m.test_loss, 100 * m.test_acc, m.lr, m.seconds, best ? "  *best" : "")
      << std::flush;
}

TrainSummary summary_of(const Run& run, int64_t first_epoch) {
  TrainSummary s;
  s.history = run.progress.history;
  s.first_epoch = first_epoch;
  s.best_epoch = run.progress.best_epoch;
  s.best_test_acc = std::max(0.0, run.progress.best_test_acc);
  s.finished = run.progress.epochs_done >= run.config.epochs;
  return s;
}

}  // namespace

TrainSummary train(const TrainConfig& config, const TrainHooks& hooks) {
  ops::set_num_threads(config.threads);
  Run run{.config = config, .files = RunFiles(config.out_dir)};
  run.log = hooks.log != nullptr ? hooks.log : &std::cout;
  run.show_progress = hooks.progress;
  run.data = open_datasets(config, hooks);
  build(run);
  prepare_out_dir(run);

  const int64_t first_epoch = run.progress.epochs_done + 1;
  if (config.resume && first_epoch <= config.epochs) {
    *run.log << fmt::format("resuming {} at epoch {}/{} (step {})\n", config.out_dir, first_epoch,
                            config.epochs, run.progress.step);
  }
  for (int64_t epoch = run.progress.epochs_done; epoch < config.epochs; ++epoch) {
    const Clock::time_point start = Clock::now();
    const EpochTotals totals = train_epoch(run, epoch);
    const EvalResult test = test_epoch(run, epoch);
    if (!std::isfinite(test.loss)) diverged(run, epoch + 1, fmt::format("the test loss is {}", test.loss));
    if (const std::string bad = first_non_finite(*run.model); !bad.empty()) {
      diverged(run, epoch + 1, fmt::format("{} holds a non-finite value", bad));
    }

    EpochMetrics m;
    m.epoch = epoch + 1;
    m.train_loss = totals.loss_sum / double(totals.images);
    m.train_acc = double(totals.correct) / double(totals.images);
    m.test_loss = test.loss;
    m.test_acc = test.top1();
    m.lr = run.optimizer->lr();
    m.seconds = std::chrono::duration<double>(Clock::now() - start).count();

    RunProgress& p = run.progress;
    p.history.push_back(m);
    p.epochs_done = epoch + 1;
    const bool best = m.test_acc > p.best_test_acc;
    if (best) {
      p.best_test_acc = m.test_acc;
      p.best_epoch = m.epoch;
    }
    save_epoch(run.files, config, *run.model, *run.optimizer, p);
    log_epoch(run, m, best);
    if (hooks.on_epoch_end && !hooks.on_epoch_end(m)) break;
  }
  return summary_of(run, first_epoch);
}

}  // namespace resnet
