// resnet train --arch A --dataset D [--data DIR] --out DIR [--epochs E] [--batch-size B] [--lr X] ...
// [--resume] Trains a zoo model on a dataset; see include/resnet/train.h for the loop and the files in --out,
// and docs/CLI.md for every flag and its default. --task segmentation trains a U-Net (--arch unet-...) on a
// segmentation dataset (fashion-mnist-scenes, folder-seg) with --loss, --ignore-index, --encoder-depth and
// --decoder-channels.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/common.h"
#include "cli/stop_signals.h"
#include "cli/training_tuning.h"
#include "resnet/error.h"
#include "resnet/train.h"
#include "train/checkpoint.h"
#include "train/distributed.h"

namespace resnet::cli {
namespace {

struct TrainFlags {
  TrainConfig config;
  double lr = 0.0, wd = 0.0, lr_backbone = 0.0;  // used when given
  bool no_augment = false, no_bn_weight_decay = false, quiet = false, no_winograd = false;
  bool tune = false;  // cli/training_tuning.h; not part of the run's config (a resumed run reads the cache)
};

// The config.json key of each flag whose name differs from its key.
std::string json_key(const std::string& flag) {
  if (flag == "--no-augment") return "augment";
  if (flag == "--no-bn-weight-decay") return "bn_weight_decay";
  if (flag == "--no-winograd") return "winograd";
  std::string key = flag.substr(2);
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

// --resume: the flags not on the command line take the run's values (config.json), so `resnet train --out DIR
// --resume` continues a run as it was started. Flags that are given must agree with the run (train() checks).
TrainConfig merge_with_run(const CLI::App& cmd, const TrainConfig& given) {
  const RunFiles files(given.out_dir);
  if (!std::filesystem::exists(files.config_json())) return given;  // train() reports the missing state
  const TrainConfig run = read_run_config(files);
  TrainConfig flags = given;
  if (cmd.count("--task") == 0) flags.task = run.task;  // so that its own flags (--loss, ...) are compared
  nlohmann::json merged = nlohmann::json::parse(train_config_to_json(run));
  const nlohmann::json mine = nlohmann::json::parse(train_config_to_json(flags));
  for (const CLI::Option* option : cmd.get_options()) {
    const std::string flag = option->get_lnames().empty() ? "" : "--" + option->get_lnames().front();
    if (flag.empty() || option->count() == 0) continue;
    const std::string key = json_key(flag);
    if (mine.contains(key)) merged[key] = mine[key];
  }
  TrainConfig config = train_config_from_json(merged.dump(), files.config_json());
  config.resume = true;
  return config;
}

// A run that SIGINT/SIGTERM stopped: one line on stderr saying what is kept (by rank 0 alone: Ctrl-C to
// mpirun stops every rank), then exit 128 + the signal.
[[noreturn]] void stopped_by(int signal, const TrainConfig& c, const TrainSummary& s,
                             const Communicator& comm) {
  if (comm.rank() == 0)
    std::cerr << fmt::format("resnet: stopped by {} in epoch {}/{}, which is abandoned; {}\n",
                             StopSignals::name(signal), s.interrupted_in_epoch, c.epochs,
                             describe_kept_checkpoint(c.out_dir, int64_t(s.history.size())));
  throw ExitStatus{StopSignals::exit_status(signal)};
}

void train_and_report(const CLI::App& cmd, TrainFlags& f, Communicator& comm);

// One process, or one rank of `mpirun -np K resnet train ...` (train/distributed.h). A rank that fails ends
// the whole launch, with its message: the others may be waiting for it in a collective.
void run_train(const CLI::App& cmd, TrainFlags& f) {
  const std::unique_ptr<Communicator> comm = launch_communicator();
  if (comm->size() == 1) return train_and_report(cmd, f, *comm);
  try {
    train_and_report(cmd, f, *comm);
  } catch (const InputError& e) {
    std::cerr << fmt::format("resnet: error: rank {} of {}: {}\n", comm->rank(), comm->size(), e.what());
    comm->abort(2);
  } catch (const std::exception& e) {
    std::cerr << fmt::format("resnet: internal error: rank {} of {}: {}\n", comm->rank(), comm->size(),
                             e.what());
    comm->abort(1);
  }
}

void train_and_report(const CLI::App& cmd, TrainFlags& f, Communicator& comm) {
  TrainConfig c = f.config;
  if (cmd.count("--lr") > 0) c.lr = f.lr;
  if (cmd.count("--wd") > 0) c.weight_decay = f.wd;
  if (cmd.count("--lr-backbone") > 0) c.lr_backbone = f.lr_backbone;
  c.augment = !f.no_augment;
  c.decay_bn_and_bias = !f.no_bn_weight_decay;
  c.winograd = !f.no_winograd;
  if (c.resume) c = merge_with_run(cmd, c);
  c = resolve_train_config(c);
  if (c.precision == "bf16") note_if_bf16_is_slower("--precision");

  TrainHooks hooks;
  hooks.progress = !f.quiet;
  hooks.communicator = &comm;
  const StopSignals signals;
  hooks.stop_requested = [&signals] { return signals.received() != 0; };
  const TrainingTuning tuning(f.tune);
  const TrainSummary s = train(c, hooks);
  if (tuning.on() && comm.rank() == 0) std::cerr << "resnet: " << tuning.summary() << "\n";
  if (s.interrupted_in_epoch > 0) stopped_by(signals.received(), c, s, comm);
  const RunFiles files(c.out_dir);
  if (s.history.empty() || comm.rank() != 0) return;
  if (s.first_epoch > c.epochs) {
    std::cout << fmt::format("the run in {} had already finished its {} epochs\n", c.out_dir, c.epochs);
  }
  const EpochMetrics& best = s.history[size_t(s.best_epoch - 1)];
  const bool ema_best = best.ema_test_acc && *best.ema_test_acc > best.test_acc;  // --ema: best holds the EMA
  const std::string score =
      best.test_miou ? fmt::format("best test mIoU {:.2f}%", 100 * *best.test_miou)
      : ema_best     ? fmt::format("best test accuracy {:.2f}% (EMA weights)", 100 * *best.ema_test_acc)
                     : fmt::format("best test accuracy {:.2f}%", 100 * best.test_acc);
  std::cout << fmt::format("{} (epoch {}): {}\n", score, best.epoch, files.best_weights())
            << fmt::format("last epoch's weights: {}\n", files.last_weights())
            << fmt::format("metrics: {}  curves: {}\n", files.metrics_csv(), files.curves_png());
}

}  // namespace

void register_train(CLI::App& app) {
  auto f = std::make_shared<TrainFlags>();
  TrainConfig& c = f->config;
  auto* cmd =
      app.add_subcommand("train", "train a model of the zoo on a dataset, with checkpoints and resume");
  cmd->add_option("--task", c.task, "classification | segmentation (a U-Net, --arch unet-...)")
      ->capture_default_str();
  cmd->add_option("--arch", c.arch, "architecture (see `resnet list`); required unless --resume");
  cmd->add_option("--dataset", c.dataset,
                  "fashion-mnist | mnist | cifar10 | cifar100 | folder; segmentation: fashion-mnist-scenes | "
                  "folder-seg; required unless --resume");
  cmd->add_option("--data", c.data_dir,
                  "dataset folder (default for fashion-mnist: /usr/share/datasets/fashion-mnist)");
  cmd->add_option("--out", c.out_dir, "folder for checkpoints, metrics.csv and curves.png")->required();
  cmd->add_flag("--resume", c.resume, "continue the run in --out from its last completed epoch");
  cmd->add_option("--epochs", c.epochs, "epochs")->capture_default_str();
  cmd->add_option("--batch-size", c.batch_size, "images per optimizer step")->capture_default_str();
  cmd->add_option("--optimizer", c.optimizer, "sgd | adamw")->capture_default_str();
  cmd->add_option("--lr", f->lr, "peak learning rate (default: 0.1 for sgd, 0.001 for adamw)");
  cmd->add_option("--schedule", c.schedule, "cosine | step | multistep | onecycle | constant")
      ->capture_default_str();
  cmd->add_option("--warmup-epochs", c.warmup_epochs, "linear warm-up from lr/10 over this many epochs")
      ->capture_default_str();
  cmd->add_option(
      "--wd", f->wd,
      "weight decay (default: sgd 5e-4 for the CIFAR networks and --stem cifar, else 1e-4; adamw 0.01)");
  cmd->add_option("--momentum", c.momentum, "SGD momentum (AdamW: beta1)")->capture_default_str();
  cmd->add_flag("--nesterov", c.nesterov, "Nesterov momentum (sgd)");
  cmd->add_flag("--no-bn-weight-decay", f->no_bn_weight_decay,
                "no weight decay on batch-norm parameters and biases");
  cmd->add_option("--label-smoothing", c.label_smoothing, "label smoothing of the cross-entropy")
      ->capture_default_str();
  cmd->add_option(
         "--ema", c.ema,
         "EMA of the weights and BN buffers with this decay (torchvision's --model-ema-decay, scaled "
         "as its train.py does); evaluated beside the raw weights (0 = off)")
      ->capture_default_str();
  cmd->add_option("--ema-steps", c.ema_steps,
                  "update the EMA every N steps (torchvision's --model-ema-steps)")
      ->capture_default_str();
  cmd->add_option("--mixup", c.mixup, "MixUp with Beta(alpha, alpha) on each batch (0 = off)")
      ->capture_default_str();
  cmd->add_option("--cutmix", c.cutmix,
                  "CutMix with Beta(alpha, alpha) on each batch (0 = off; with --mixup one of the two per "
                  "batch)")
      ->capture_default_str();
  cmd->add_option("--random-erasing", c.random_erasing,
                  "RandomErasing probability (scale 0.02-0.33, ratio 0.3-3.3, value 0; 0 = off)")
      ->capture_default_str();
  cmd->add_option("--auto-augment", c.auto_augment,
                  "ta_wide (TrivialAugmentWide) | ra (RandAugment 2 ops, magnitude 9) | none")
      ->capture_default_str();
  cmd->add_option("--clip-grad-norm", c.clip_grad_norm, "clip the global gradient norm to this (0 = off)")
      ->capture_default_str();
  cmd->add_option("--precision", c.precision, "f32 | bf16")->capture_default_str();
  cmd->add_flag("--sync-bn", c.sync_bn,
                "under mpirun: batch norm over the whole global batch (SyncBatchNorm); default: each rank's "
                "slice (DDP)");
  cmd->add_option("--stem", c.stem,
                  "imagenet | cifar (3x3 stride-1 conv, no max-pool; default: the arch's own)");
  cmd->add_option("--image-size", c.image_size,
                  "resize/crop images to this size (default: the dataset's; folders 224)");
  cmd->add_flag("--no-augment", f->no_augment, "no random crop or flip: train on the evaluation transform");
  cmd->add_option("--seed", c.seed, "seed of the initialisation, shuffling and augmentation")
      ->capture_default_str();
  cmd->add_option("--subset", c.subset, "train on the first N training images only (0 = all)")
      ->capture_default_str();
  cmd->add_option("--test-subset", c.test_subset, "evaluate on the first N test images only (0 = all)")
      ->capture_default_str();
  cmd->add_option("--classes", c.classes,
                  "keep only these classes, e.g. 5,6,7 (both splits), relabelled 0..k-1 in this order")
      ->delimiter(',');
  cmd->add_option("--per-class", c.per_class,
                  "train on the first N training images of each (kept) class only (0 = all)")
      ->capture_default_str();
  cmd->add_option("--init-weights", c.init_weights,
                  "start from these weights (.pth, .safetensors, or a run's state.safetensors / folder); a "
                  "classifier of another class count keeps its fresh init, a 3-channel conv1 is adapted");
  cmd->add_flag("--non-strict", c.non_strict,
                "with --init-weights: skip and report tensors that do not fit instead of failing");
  cmd->add_option(
      "--freeze", c.freeze,
      "freeze up to and including: stem | layer1 | layer2 | layer3 | layer4 | backbone (all but fc; a "
      "U-Net's whole encoder)");
  cmd->add_option("--lr-backbone", f->lr_backbone,
                  "learning rate of every parameter but fc's (a U-Net: of its encoder) (default: --lr)");
  cmd->add_option("--dropout", c.dropout, "Dropout2d probability on each block's residual branch")
      ->capture_default_str();
  cmd->add_option("--loss", c.loss, "segmentation: ce | dice | ce+dice (default: ce)");
  cmd->add_option("--ignore-index", c.ignore_index,
                  "segmentation: the mask value of pixels no loss or metric counts (0..255)")
      ->capture_default_str();
  cmd->add_option("--encoder-depth", c.encoder_depth,
                  "segmentation: encoder stages the U-Net's decoder uses, 3..5 (default 5)");
  cmd->add_option("--decoder-channels", c.decoder_channels,
                  "segmentation: channels of each decoder block, a,b,... (default 256,128,64,32,16, one per "
                  "depth)")
      ->delimiter(',');
  cmd->add_option("--max-steps-per-epoch", c.max_steps_per_epoch,
                  "stop each epoch after N steps (0 = a full pass)")
      ->capture_default_str();
  cmd->add_option("--threads", c.threads,
                  "compute threads (default: all cores; 1 makes runs bit-for-bit repeatable)");
  cmd->add_flag(
      "--no-winograd", f->no_winograd,
      "f32: the 3x3 stride-1 convolutions as oneDNN direct convolutions instead of Winograd F(4x4, 3x3)");
  cmd->add_flag("--tune", f->tune,
                "on the first step, time the kernels that compute each convolution and pass (oneDNN's "
                "implementations, Winograd, ...) and keep the fastest (cached per machine, as the plan's "
                "tuning: pass --tune again with --resume)");
  cmd->add_option("--workers", c.workers, "data loader threads (0 = load on the training thread)")
      ->capture_default_str();
  cmd->add_flag("--skip-bad-images", c.skip_bad_images,
                "an image file that cannot be read is logged once and left out (counted per epoch in "
                "metrics.csv's skipped_images) instead of stopping the run");
  cmd->add_flag("--quiet", f->quiet, "no progress bar (the per-epoch lines remain)");
  cmd->callback([cmd, f] { run_train(*cmd, *f); });
}

}  // namespace resnet::cli
