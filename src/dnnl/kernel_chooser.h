// Choosing among kernels that compute the same result by timing them (issue 17 §3). The candidates and the
// chooser's interface live on the dnnl floor so that training's convolutions (conv.cpp) can ask too; the
// timing and its per-machine cache are the plan's ConvTuner (infer/onednn/conv_tuner.h), which `resnet train
// --tune` and `resnet bench --train --tune` install for their run (ops::set_training_kernel_chooser).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace resnet::onednn {

// A candidate kernel: its name (the plan's: "winograd" or oneDNN's implementation name "brgconv:avx512_core";
// training's: dnnl/training_kernel.h) and how to make it ready to time: prepare() allocates what it needs
// and returns one synchronous run.
// admissible (when set): whether it computes exactly what the first candidate computes, asked before timing
// it; one that is not is never chosen.
struct KernelCandidate {
  std::string name;
  std::function<std::function<void()>()> prepare;
  std::function<bool()> admissible;
};

class KernelChooser {
 public:
  virtual ~KernelChooser() = default;
  // The name of the candidate to run for `key` (step: who asks, for the record). The first candidate is the
  // one that runs without a chooser.
  virtual std::string choose(const std::string& step, const std::string& key,
                             const std::vector<KernelCandidate>& candidates) = 0;
  // The choice already made for `key`, if the chooser remembers one: lets a caller that meets the same
  // convolution every training step skip building its candidates.
  virtual std::optional<std::string> chosen(const std::string& /*key*/) const { return std::nullopt; }
};

}  // namespace resnet::onednn
