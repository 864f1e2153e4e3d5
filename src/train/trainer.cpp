// The training loop: epochs of forward -> loss -> backward -> optimizer step, evaluation after each, and a
// checkpoint (checkpoint.h) that --resume continues from exactly. The task (train_task.h: classification or
// segmentation) supplies the model, the data, the loss and the metrics; the loop is the same for both.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>

#include "core/communicator.h"
#include "dnnl/ops.h"
#include "nn/batchnorm2d.h"
#include "resnet/load_state_dict.h"
#include "resnet/optim.h"
#include "resnet/train.h"
#include "train/broadcast_state.h"
#include "train/checkpoint.h"
#include "train/ddp_timing.h"
#include "train/ema.h"
#include "train/gradient_allreduce.h"
#include "train/progress.h"
#include "train/train_task.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

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

// Everything one run holds: the task (data, model, loss, metrics: train_task.h) and what the loop owns.
struct Run {
  TrainConfig config;
  RunFiles files;
  std::unique_ptr<TrainTask> task;
  std::vector<Parameter*> params;
  std::unique_ptr<Optimizer> optimizer;
  int64_t steps_per_epoch = 0;
  LrSchedule schedule;
  RunProgress progress;
  std::ostream* log = nullptr;
  bool show_progress = true;
  const TrainHooks& hooks;
  std::set<std::string> bad_images_logged;  // --skip-bad-images: each bad file is logged once per session
  int64_t epoch_skipped = 0;                // images skipped in the current epoch
  std::unique_ptr<WeightAverage> ema;       // --ema
  // Data-parallel (hooks.communicator of more than one rank): the gradient all-reduce; null in one process.
  std::unique_ptr<GradientAllReduce> allreduce;
  // Training steps timed for RESNET_DDP_TIMING (all but each epoch's first, which warms up).
  double timed_seconds = 0.0;
  int64_t timed_images = 0, timed_steps = 0;
  double timed_reduce_seconds = 0.0;  // of those steps: in reduce_step() (its wait for the other ranks)

  Communicator& comm() const { return *hooks.communicator; }
  bool distributed() const { return comm().size() > 1; }
  bool writer() const { return comm().rank() == 0; }  // rank 0 writes the files, the log and the bar
};

void build(Run& run) {
  const TrainConfig& c = run.config;
  run.task = make_train_task(run.config, run.hooks, *run.log);
  run.params = run.task->model().parameters();
  run.optimizer = make_optimizer(c, run.params);
  // Discriminative fine-tuning: the backbone's parameters (all but the classifier; a U-Net's encoder) at
  // --lr-backbone.
  for (size_t i = 0; i < run.params.size(); ++i) {
    if (run.task->in_backbone(run.params[i]->name)) run.optimizer->set_lr_factor(i, *c.lr_backbone / *c.lr);
  }
  run.steps_per_epoch = run.task->train_batches();
  if (c.max_steps_per_epoch > 0) run.steps_per_epoch = std::min(run.steps_per_epoch, c.max_steps_per_epoch);
  run.schedule = make_lr_schedule(c.schedule, *c.lr, c.epochs, run.steps_per_epoch, c.warmup_epochs);
  if (c.ema > 0) {
    run.ema = std::make_unique<WeightAverage>(
        run.task->model(), ema_decay_per_update(c.ema, c.batch_size, c.ema_steps, c.epochs));
  }
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
    load_state_dict(run.task->model(), state.model, true, run.files.state());
    run.optimizer->load_state_dict(state.optimizer, run.files.state());
    if (run.ema) run.ema->load_state_dict(state.ema, "ema.", run.files.state());
    run.progress = std::move(state.progress);
    if (run.progress.step != run.progress.epochs_done * run.steps_per_epoch) {
      throw InputError(fmt::format("{}: {} steps for {} epochs of {} steps: not this run's state",
                                   run.files.state(), run.progress.step, run.progress.epochs_done,
                                   run.steps_per_epoch));
    }
    remove_stale_temp_files(run.files);
    write_run_config(run.files, c, run.task->info());
    rewrite_derived_files(run.files, c, run.task->info(), run.task->model(), run.progress, run.ema.get());
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
  write_run_config(run.files, c, run.task->info());
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

// Thrown when TrainHooks::stop_requested says stop, caught by train(): the epoch in progress is abandoned.
struct StopRequested {};

bool stop_wanted(const Run& run) {
  return run.hooks.stop_requested && run.hooks.stop_requested();
}

// One process stops at once; ranks stop together, at the next reduction that carries the request.
void stop_if_requested(const Run& run) {
  if (!run.distributed() && stop_wanted(run)) throw StopRequested{};
}

// ---------------------------------------------------------------------------------------------------------------
// Data-parallel runs

// What a data-parallel run cannot do yet, refused before anything starts.
void check_distributable(const TrainConfig& c, int ranks) {
  if (is_segmentation(c)) {
    throw InputError(
        fmt::format("--task segmentation: training across {} ranks is not supported (only "
                    "classification is data-parallel); run one process",
                    ranks));
  }
  if (c.skip_bad_images) {
    throw InputError(
        fmt::format("--skip-bad-images: not supported across {} ranks (a rank's slice could "
                    "become empty); run one process or clean the data",
                    ranks));
  }
}

// --sync-bn: every batch norm of the model takes its statistics over the ranks.
void use_sync_batchnorm(Module& m, Communicator* comm) {
  if (auto* bn = dynamic_cast<BatchNorm2d*>(&m)) bn->set_communicator(comm);
  for (Module* child : m.children()) use_sync_batchnorm(*child, comm);
}

// Rank 0's weights, buffers, optimizer state (of a resumed run) and progress on every rank.
void share_start_state(Run& run) {
  Communicator& comm = run.comm();
  int64_t progress[2] = {run.progress.epochs_done, run.progress.step};
  comm.broadcast(progress, sizeof progress, 0);
  run.progress.epochs_done = progress[0];
  run.progress.step = progress[1];
  broadcast_tensors(comm, run.task->model().state_dict());
  if (!run.config.resume) return;
  const StateDict optimizer =
      broadcast_state_dict(comm, run.writer() ? run.optimizer->state_dict() : StateDict{});
  if (!run.writer()) run.optimizer->load_state_dict(optimizer, "rank 0's optimizer state");
}

// The step's numbers summed over the ranks (the loss as the global batch's mean), and whether a rank was
// asked to stop (then all stop).
StepResult reduce_step(const Run& run, const StepResult& mine) {
  double v[5] = {mine.loss * double(mine.images), double(mine.images), double(mine.correct),
                 double(mine.counted), stop_wanted(run) ? 1.0 : 0.0};
  run.comm().allreduce_sum(v, 5);
  if (v[4] > 0) throw StopRequested{};
  return {.loss = v[0] / v[1], .images = int64_t(v[1]), .correct = int64_t(v[2]), .counted = int64_t(v[3])};
}

TestResult reduce_test(const Run& run, const TestResult& mine) {
  double v[4] = {mine.loss * double(mine.images), double(mine.images), double(mine.correct),
                 stop_wanted(run) ? 1.0 : 0.0};
  run.comm().allreduce_sum(v, 4);
  if (v[3] > 0) throw StopRequested{};
  TestResult all = mine;
  all.images = int64_t(v[1]);
  all.correct = int64_t(v[2]);
  all.loss = all.images > 0 ? v[0] / v[1] : 0.0;
  all.accuracy = all.images > 0 ? v[2] / v[1] : 0.0;
  return all;
}

// --skip-bad-images: logs each newly skipped image (once per file: its reason names it) and counts them.
void note_skipped(Run& run) {
  for (const SkippedSample& s : run.task->take_skipped()) {
    ++run.epoch_skipped;
    if (run.bad_images_logged.insert(s.reason).second)
      std::cerr << "skipped a bad image: " << s.reason << "\n";
  }
}

struct EpochTotals {
  double loss_sum = 0.0;  // of the batch losses times their images
  int64_t images = 0;
  int64_t correct = 0, counted = 0;  // images (classification) or pixels (segmentation)
};

// --ema after the optimizer step of batch s (0-based) of an epoch, as torchvision's train.py: every
// --ema-steps batches, and during the lr warm-up the average restarts from the weights at each update.
void update_ema(Run& run, int64_t epoch, int64_t s) {
  if (!run.ema || s % run.config.ema_steps != 0) return;
  run.ema->update(run.task->model());
  if (epoch < run.config.warmup_epochs) run.ema->reset();
}

// One pass over the training split (at most steps_per_epoch batches). epoch: 0-based.
EpochTotals train_epoch(Run& run, int64_t epoch) {
  TrainTask& task = *run.task;
  Optimizer& optimizer = *run.optimizer;
  task.start_train_epoch(epoch);
  ProgressBar bar(std::cerr, run.show_progress, fmt::format("epoch {}/{}", epoch + 1, run.config.epochs),
                  run.steps_per_epoch);
  EpochTotals t;
  for (int64_t s = 0; s < run.steps_per_epoch; ++s) {
    const Clock::time_point step_start = Clock::now();
    stop_if_requested(run);
    if (!task.next_train_batch()) break;
    const int64_t step = run.progress.step;
    optimizer.set_lr(run.schedule.lr_at(step));
    if (std::optional<double> momentum = run.schedule.momentum_at(step)) optimizer.set_momentum(*momentum);
    task.model().zero_grad();
    StepResult r = task.forward_loss();
    note_skipped(run);
    if (run.distributed()) {
      const int64_t mine = r.images;
      const Clock::time_point reduce_start = Clock::now();
      r = reduce_step(run, r);
      if (s > 0)
        run.timed_reduce_seconds += std::chrono::duration<double>(Clock::now() - reduce_start).count();
      task.scale_loss_gradient(float(double(mine) / double(r.images)));
      run.allreduce->start_step();
    }
    if (r.images == 0) {  // every image of the batch was skipped: the step counts, nothing is updated
      ++run.progress.step;
      continue;
    }
    if (!std::isfinite(r.loss)) diverged(run, epoch + 1, fmt::format("the loss is {}", r.loss));
    task.backward();
    if (run.allreduce) run.allreduce->finish();
    const double norm = run.config.clip_grad_norm > 0 ? clip_grad_norm(run.params, run.config.clip_grad_norm)
                                                      : grad_norm(run.params);
    if (!std::isfinite(norm)) diverged(run, epoch + 1, fmt::format("the gradient norm is {}", norm));
    optimizer.step();
    ++run.progress.step;
    update_ema(run, epoch, s);
    if (s > 0) {
      run.timed_seconds += std::chrono::duration<double>(Clock::now() - step_start).count();
      run.timed_images += r.images;
      ++run.timed_steps;
    }

    t.loss_sum += r.loss * double(r.images);
    t.images += r.images;
    t.correct += r.correct;
    t.counted += r.counted;
    bar.update(s + 1, t.images, t.loss_sum / double(t.images),
               t.counted > 0 ? double(t.correct) / double(t.counted) : 0.0);
  }
  return t;
}

TestResult test_epoch(Run& run, int64_t epoch) {
  ProgressBar bar(std::cerr, run.show_progress, fmt::format("test  {}/{}", epoch + 1, run.config.epochs),
                  run.task->test_batches());
  int64_t done = 0;
  const TestResult mine = run.task->evaluate([&](int64_t images) {
    bar.update(++done, images, -1.0, 0.0);
    stop_if_requested(run);
  });
  return run.distributed() ? reduce_test(run, mine) : mine;
}

// The test split with the averaged weights swapped in (and the raw ones back after).
TestResult test_with_ema(Run& run, int64_t epoch) {
  const StateDict raw = swap_model_weights(run.task->model(), run.ema->weights());
  TestResult result;
  try {
    result = test_epoch(run, epoch);
  } catch (...) {
    swap_model_weights(run.task->model(), raw);
    throw;
  }
  swap_model_weights(run.task->model(), raw);
  return result;
}

void log_epoch(const Run& run, const EpochMetrics& m, bool best) {
  // Segmentation: acc = pixel accuracy, and the test mIoU follows it.
  std::string miou = m.test_miou ? fmt::format(" mIoU {:6.2f}%", 100 * *m.test_miou) : "";
  if (m.ema_test_acc) miou += fmt::format("  ema acc {:6.2f}%", 100 * *m.ema_test_acc);
  *run.log
      << fmt::format(
             "epoch {:>{}}/{}  train loss {:.4f} acc {:6.2f}%  test loss {:.4f} acc {:6.2f}%{}  lr {:.4g}  "
             "{:.1f} s{}\n",
             m.epoch, std::to_string(run.config.epochs).size(), run.config.epochs, m.train_loss,
             100 * m.train_acc, m.test_loss, 100 * m.test_acc, miou, m.lr, m.seconds, best ? "  *best" : "")
      << std::flush;
}

// RESNET_DDP_TIMING=1 (scripts/bench_distributed.sh): one line on stderr from rank 0 after the run: training
// images per second, and for several ranks the all-reduce time of a step unhidden, the time the optimizer
// waited for it (what backward did not hide: rank 0's over all steps, as before; the slowest rank's after the
// first step), the loopback bandwidth of the same code path, the ranks' skew at the end of backward and the
// wait of the rank that ended backward last (the all-reduce time nothing hid, without the skew); then where
// the time went (src/train/ddp_timing.h).
void report_timing(Run& run) {
  if (std::getenv("RESNET_DDP_TIMING") == nullptr || run.timed_steps == 0) return;
  const double images_per_second = double(run.timed_images) / run.timed_seconds;
  std::string line = fmt::format("ddp timing: ranks {} threads {} steps {} images/s {:.1f}",
                                 run.comm().size(), run.config.threads, run.timed_steps, images_per_second);
  std::vector<std::string> detail;
  if (run.allreduce) {
    const DdpTimingSummary summary =
        summarise_ddp_timing(run.comm(), *run.allreduce, run.timed_reduce_seconds / double(run.timed_steps));
    const double unhidden = run.allreduce->measure_unhidden(10);
    const double waited = run.allreduce->exposed_seconds() / double(run.allreduce->steps());
    const double waited_max =
        summary.waited.empty() ? 0.0 : *std::max_element(summary.waited.begin(), summary.waited.end());
    const int n = run.comm().size();
    const double bytes = double(run.allreduce->bytes());
    line += fmt::format(
        " step_ms {:.2f} allreduce_ms {:.2f} waited_ms {:.2f} hidden {:.1f}% gradient_MB {:.2f} buckets {} "
        "ring_bus_GBps {:.2f} waited_max_ms {:.2f} hidden_worst {:.1f}% skew_ms {:.2f} exposed_ms {:.2f} "
        "hidden_comm {:.1f}%",
        1e3 * run.timed_seconds / double(run.timed_steps), 1e3 * unhidden, 1e3 * waited,
        100.0 * std::max(0.0, 1.0 - waited / unhidden), bytes / 1e6, run.allreduce->buckets(),
        2.0 * (n - 1) / n * bytes / unhidden / 1e9, 1e3 * waited_max,
        100.0 * std::max(0.0, 1.0 - waited_max / unhidden), 1e3 * summary.skew_mean,
        1e3 * summary.last_rank_waited, 100.0 * std::max(0.0, 1.0 - summary.last_rank_waited / unhidden));
    detail = ddp_timing_lines(summary);
  }
  if (run.writer()) {
    std::cerr << line << "\n";
    for (const std::string& d : detail) std::cerr << d << "\n";
  }
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

TrainSummary train(const TrainConfig& config, const TrainHooks& given_hooks) {
  ops::set_num_threads(config.threads);
  const ops::ConvWinogradScope winograd(config.winograd);  // the eval paths after train() keep theirs
  SingleProcessCommunicator single_process;
  TrainHooks hooks = given_hooks;
  if (hooks.communicator == nullptr) hooks.communicator = &single_process;
  const bool writer = hooks.communicator->rank() == 0;
  std::ostream quiet(nullptr);  // the other ranks' log
  if (hooks.communicator->size() > 1) check_distributable(config, hooks.communicator->size());
  Run run{.config = config,
          .files = RunFiles(config.out_dir),
          .log = !writer                ? &quiet
                 : hooks.log != nullptr ? hooks.log
                                        : &std::cout,
          .show_progress = hooks.progress && writer,
          .hooks = hooks};
  build(run);
  if (writer) prepare_out_dir(run);
  if (run.distributed()) {
    share_start_state(run);
    if (config.sync_bn) use_sync_batchnorm(run.task->model(), &run.comm());
    run.allreduce = std::make_unique<GradientAllReduce>(run.comm(), run.params);
    if (std::getenv("RESNET_DDP_TIMING") != nullptr) run.allreduce->keep_step_times();
  }

  const int64_t first_epoch = run.progress.epochs_done + 1;
  if (config.resume && first_epoch <= config.epochs) {
    *run.log << fmt::format("resuming {} at epoch {}/{} (step {})\n", config.out_dir, first_epoch,
                            config.epochs, run.progress.step);
  }
  for (int64_t epoch = run.progress.epochs_done; epoch < config.epochs; ++epoch) {
    const Clock::time_point start = Clock::now();
    EpochTotals totals;
    TestResult test;
    std::optional<TestResult> ema_test;
    try {
      totals = train_epoch(run, epoch);
      test = test_epoch(run, epoch);
      if (run.ema) ema_test = test_with_ema(run, epoch);
      note_skipped(run);
    } catch (const StopRequested&) {
      TrainSummary s = summary_of(run, first_epoch);
      s.interrupted_in_epoch = epoch + 1;
      return s;
    }
    if (!std::isfinite(test.loss)) diverged(run, epoch + 1, fmt::format("the test loss is {}", test.loss));
    if (const std::string bad = first_non_finite(run.task->model()); !bad.empty()) {
      diverged(run, epoch + 1, fmt::format("{} holds a non-finite value", bad));
    }

    EpochMetrics m;
    m.epoch = epoch + 1;
    m.train_loss = totals.images > 0 ? totals.loss_sum / double(totals.images) : 0.0;
    m.train_acc = totals.counted > 0 ? double(totals.correct) / double(totals.counted) : 0.0;
    m.test_loss = test.loss;
    m.test_acc = test.accuracy;
    m.test_miou = test.miou;
    if (ema_test) {
      m.ema_test_loss = ema_test->loss;
      m.ema_test_acc = ema_test->accuracy;
    }
    m.class_iou = test.class_iou;
    m.lr = run.optimizer->lr();
    m.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (config.skip_bad_images) m.skipped_images = run.epoch_skipped;
    run.epoch_skipped = 0;

    RunProgress& p = run.progress;
    p.history.push_back(m);
    p.epochs_done = epoch + 1;
    const bool best = best_score(m) > p.best_test_acc;
    if (best) {
      p.best_test_acc = best_score(m);
      p.best_epoch = m.epoch;
      p.best_is_ema = m.ema_test_acc && *m.ema_test_acc > m.test_acc;
    }
    if (writer)
      save_epoch(run.files, config, run.task->info(), run.task->model(), *run.optimizer, p, run.ema.get());
    log_epoch(run, m, best);
    if (hooks.on_epoch_end && !hooks.on_epoch_end(m)) break;
  }
  report_timing(run);
  return summary_of(run, first_epoch);
}

}  // namespace resnet
