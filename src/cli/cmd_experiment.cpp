// resnet experiment degradation --dataset D --out DIR [--depths 20,56] [--epochs E] [--subset N] ...
// He et al. 2015 Fig. 6 in one command: for each depth, the plain network (plainD: no shortcuts) and the
// ResNet (resnetD) train with one recipe, one after the other, each as a normal run folder DIR/<arch>/ (so an
// interrupted experiment continues where it stopped when run again: finished runs are kept, a started one
// resumes), then DIR/degradation.png draws their training (thin) and test (bold) error per epoch, plain on
// the left and ResNets on the right.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/common.h"
#include "cli/stop_signals.h"
#include "resnet/error.h"
#include "resnet/train.h"
#include "resnet/zoo.h"
#include "train/checkpoint.h"

namespace resnet::cli {
namespace {

namespace fs = std::filesystem;

// The default budget: plain/resnet 20 and 56, 10 epochs of 10000 Fashion-MNIST training images each, every
// epoch evaluated on the whole test split: about 1.3 h on 2 cores by a timing probe (docs/CLI.md).
struct DegradationFlags {
  std::string dataset = "fashion-mnist";
  std::string data_dir;
  std::vector<int> depths = {20, 56};
  int64_t epochs = 10;
  int64_t subset = 10000;
  int64_t test_subset = 0;
  int64_t batch_size = 128;
  uint64_t seed = 0;
  int threads = 0;
  int workers = 2;
  std::string out;
  bool quiet = false;
};

// The run of one network: the default recipe of `resnet train` (SGD 0.1, momentum 0.9, cosine, the CIFAR
// networks' weight decay 5e-4, random crop with padding 4), the same for every network.
TrainConfig run_config(const DegradationFlags& f, const std::string& arch) {
  TrainConfig c;
  c.arch = arch;
  c.dataset = f.dataset;
  c.data_dir = f.data_dir;
  c.epochs = f.epochs;
  c.subset = f.subset;
  c.test_subset = f.test_subset;
  c.batch_size = f.batch_size;
  c.seed = f.seed;
  c.threads = f.threads;
  c.workers = f.workers;
  c.out_dir = (fs::path(f.out) / arch).string();
  c.resume = fs::exists(RunFiles(c.out_dir).state());
  return resolve_train_config(c);
}

void check_depths(const std::vector<int>& depths) {
  if (depths.empty()) throw InputError("--depths: give at least one depth (20, 32, 44, 56 or 110)");
  for (int d : depths) {
    const std::string plain = fmt::format("plain{}", d);
    const auto& names = plain_zoo_names();
    if (std::find(names.begin(), names.end(), plain) == names.end()) {
      throw InputError(
          fmt::format("--depths {}: expected 20, 32, 44, 56 or 110 (a CIFAR network 6n+2 with a "
                      "plain twin)",
                      d));
    }
  }
}

// Trains one network (or resumes / skips it); false if a signal stopped it.
bool train_one(const TrainConfig& c, const DegradationFlags& f, const StopSignals& signals) {
  std::cout << fmt::format("== {} ({} epochs) in {}\n", c.arch, c.epochs, c.out_dir) << std::flush;
  TrainHooks hooks;
  hooks.progress = !f.quiet;
  hooks.stop_requested = [&signals] { return signals.received() != 0; };
  const TrainSummary s = train(c, hooks);
  if (s.first_epoch > c.epochs)
    std::cout << fmt::format("{} had already finished its {} epochs\n", c.arch, c.epochs);
  if (s.interrupted_in_epoch == 0) return true;
  std::cerr << fmt::format("resnet: stopped by {} in {}'s epoch {}/{}, which is abandoned; {}\n",
                           StopSignals::name(signals.received()), c.arch, s.interrupted_in_epoch, c.epochs,
                           describe_kept_checkpoint(c.out_dir, int64_t(s.history.size())));
  return false;
}

void run_degradation(const DegradationFlags& f) {
  check_depths(f.depths);
  // Every config is checked before the first network trains.
  std::vector<TrainConfig> plain, residual;
  for (int d : f.depths) {
    plain.push_back(run_config(f, fmt::format("plain{}", d)));
    residual.push_back(run_config(f, fmt::format("resnet{}", d)));
  }
  const StopSignals signals;
  std::vector<NamedHistory> plain_runs, residual_runs;
  for (size_t i = 0; i < f.depths.size(); ++i) {
    for (const auto& [config, runs, label] :
         {std::tuple{&plain[i], &plain_runs, "plain"}, std::tuple{&residual[i], &residual_runs, "ResNet"}}) {
      if (!train_one(*config, f, signals)) throw ExitStatus{StopSignals::exit_status(signals.received())};
      runs->push_back({fmt::format("{}-{}", label, f.depths[i]),
                       read_metrics_csv(RunFiles(config->out_dir).metrics_csv())});
    }
  }
  const std::string figure = (fs::path(f.out) / "degradation.png").string();
  write_degradation_png(plain_runs, residual_runs, figure,
                        fmt::format("{}: training error (thin) and test error (bold)", f.dataset));
  std::cout << fmt::format("{:<12} {:>15} {:>12}\n", "network", "train error %", "test error %");
  for (const auto* runs : {&plain_runs, &residual_runs}) {
    for (const NamedHistory& run : *runs) {
      const EpochMetrics& m = run.history.back();
      std::cout << fmt::format("{:<12} {:>15.2f} {:>12.2f}\n", run.name, 100 * (1 - m.train_acc),
                               100 * (1 - m.test_acc));
    }
  }
  std::cout << fmt::format("figure: {}\n", figure);
}

}  // namespace

void register_experiment(CLI::App& app) {
  auto* cmd = app.add_subcommand("experiment", "reproduce an experiment of the ResNet paper");
  cmd->require_subcommand(1);
  auto f = std::make_shared<DegradationFlags>();
  auto* deg = cmd->add_subcommand(
      "degradation",
      "He et al. Fig. 6: plain and residual networks of each depth trained alike, their training and test "
      "error per epoch in one figure");
  deg->add_option("--dataset", f->dataset, "fashion-mnist | mnist | cifar10 | cifar100 | folder")
      ->capture_default_str();
  deg->add_option("--data", f->data_dir, "dataset folder (default: the dataset's)");
  deg->add_option("--depths", f->depths, "depths 6n+2 to compare: 20, 32, 44, 56, 110")
      ->delimiter(',')
      ->capture_default_str();
  deg->add_option("--epochs", f->epochs, "epochs of each network")->capture_default_str();
  deg->add_option("--subset", f->subset, "train on the first N training images (0 = all)")
      ->capture_default_str();
  deg->add_option("--test-subset", f->test_subset, "evaluate on the first N test images (0 = all)")
      ->capture_default_str();
  deg->add_option("--batch-size", f->batch_size, "images per optimizer step")->capture_default_str();
  deg->add_option("--seed", f->seed, "seed of every network's init, order and augmentation")
      ->capture_default_str();
  deg->add_option("--threads", f->threads, "compute threads (default: all cores)");
  deg->add_option("--workers", f->workers, "data loader threads")->capture_default_str();
  deg->add_option("--out", f->out, "folder of the runs (one per network) and degradation.png")->required();
  deg->add_flag("--quiet", f->quiet, "no progress bar");
  deg->callback([f] { run_degradation(*f); });
}

}  // namespace resnet::cli
