// `--tune` for a training run (`resnet train --tune`, `resnet bench --train --tune`; issue 17 §3): for the
// scope of the run, the plan's ConvTuner with this machine's tuning cache chooses per training convolution
// and pass among the kernels that compute it — Winograd, the phases / matmul paths, oneDNN's implementations
// — by timing them on the first step that meets its shape (ops::set_training_kernel_chooser); later steps,
// and later runs on this machine, read the choice. The cache is saved when the scope ends. Off: the shape
// rules (dnnl/conv_winograd.h, conv_phases.h, conv_weight_matmul.h) and oneDNN's first choice, as without the
// flag.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "dnnl/kernel_chooser.h"
#include "infer/onednn/conv_tuner.h"
#include "infer/tuning_cache.h"

namespace resnet::cli {

class TrainingTuning {
 public:
  explicit TrainingTuning(bool on);
  ~TrainingTuning();  // the rules back; the cache saved
  TrainingTuning(const TrainingTuning&) = delete;
  TrainingTuning& operator=(const TrainingTuning&) = delete;

  bool on() const { return tuner_ != nullptr; }
  // "tuned: 9 training convolutions, 0 from the cache, 18 candidate kernels timed; cache PATH" (on only).
  std::string summary() const;
  // One per convolution shape and pass, in the order first met: "conv2d forward x [128,14,14,32] w
  // [32,32,3,3] stride 1x1 pad 1x1: winograd (timed: winograd 5.10 ms, onednn:brgconv:avx512_core 7.90 ms,
  // ...)", or "... (cached)".
  const std::vector<std::string>& choices() const;

 private:
  // Asks the tuner once per key: a convolution runs every step, its choice is made on the first.
  class OncePerKey : public onednn::KernelChooser {
   public:
    explicit OncePerKey(infer::ConvTuner& tuner) : tuner_(tuner) {}
    std::string choose(const std::string& step, const std::string& key,
                       const std::vector<onednn::KernelCandidate>& candidates) override;
    std::optional<std::string> chosen(const std::string& key) const override;

   private:
    infer::ConvTuner& tuner_;
    std::unordered_map<std::string, std::string> chosen_;
  };

  std::unique_ptr<infer::TuningCache> cache_;
  std::unique_ptr<infer::ConvTuner> tuner_;
  std::unique_ptr<OncePerKey> once_;
};

}  // namespace resnet::cli
