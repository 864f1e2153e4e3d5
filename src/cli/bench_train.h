// `resnet bench --train`: the training-step benchmark. Times full optimizer steps on one fixed synthetic
// batch, as src/train/trainer.cpp runs them per step (no data loading):
//   zero_grad -> forward (train mode) -> softmax cross-entropy -> backward -> gradient norm -> SGD step
// and reports images/s and ms per step from the median step time, plus the process's peak RSS. A U-Net
// (--arch unet-..., with --num-classes, --encoder-depth, --decoder-channels) takes a fixed random mask and
// the per-pixel cross-entropy instead of labels and softmax cross-entropy. bench/peers/pytorch_train.py is
// the same measurement in PyTorch; scripts/bench_train.sh runs both.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <string>

#include "cli/common.h"

namespace resnet::cli {

// The flags only --train uses; `resnet bench` adds them to its subcommand.
struct TrainBenchFlags {
  bool train = false;
  std::string stem;               // "" = the architecture's own; imagenet | cifar
  std::string precision = "f32";  // f32 | bf16 (ResNet::set_compute_dtype)
  std::string freeze;             // "" | stem | layer1..layer4 | backbone (ResNet::freeze)
};
std::shared_ptr<TrainBenchFlags> add_train_bench_flags(CLI::App& cmd);

// The flags `resnet bench` shares with --train.
struct TrainBenchCommon {
  ModelOptions model;
  int64_t batch = 1;
  int64_t size = 224;
  int warmup = 2;
  int iters = 10;
  int threads = 0;
  bool json = false;
  bool winograd = true;  // false: --no-winograd (ops::set_conv_winograd)
  bool tune = false;     // --tune: training's convolutions timed (cli/training_tuning.h); never by default
  bool verbose = false;  // with tune: each convolution pass's choice and times
};

// With --train: checks that no inference-only flag was given, runs the training benchmark and returns true.
// Without it: refuses --stem and --precision (they mean nothing to the inference bench) and returns false.
// Throws InputError for a misused flag.
bool run_train_bench_if_asked(const CLI::App& cmd, const TrainBenchFlags& flags,
                              const TrainBenchCommon& common);

}  // namespace resnet::cli
