#include "cli/training_tuning.h"

#include <fmt/format.h>

#include "dnnl/ops.h"

namespace resnet::cli {

TrainingTuning::TrainingTuning(bool on) {
  if (!on) return;
  cache_ = std::make_unique<infer::TuningCache>("");  // the default path (tuning_cache.h)
  tuner_ = std::make_unique<infer::ConvTuner>(*cache_);
  once_ = std::make_unique<OncePerKey>(*tuner_);
  ops::set_training_kernel_chooser(once_.get());
}

TrainingTuning::~TrainingTuning() {
  if (!on()) return;
  ops::set_training_kernel_chooser(nullptr);
  cache_->save();  // warns on failure, never throws
}

std::string TrainingTuning::OncePerKey::choose(const std::string& step, const std::string& key,
                                               const std::vector<onednn::KernelCandidate>& candidates) {
  if (auto it = chosen_.find(key); it != chosen_.end()) return it->second;
  return chosen_[key] = tuner_.choose(step, key, candidates);
}

std::optional<std::string> TrainingTuning::OncePerKey::chosen(const std::string& key) const {
  if (auto it = chosen_.find(key); it != chosen_.end()) return it->second;
  return std::nullopt;
}

std::string TrainingTuning::summary() const {
  if (!on()) return "";
  return fmt::format(
      "tuned: {} training convolutions, {} from the cache, {} candidate kernels timed; cache {}",
      tuner_->choices().size(), tuner_->cache_hits(), tuner_->timings(), cache_->path());
}

const std::vector<std::string>& TrainingTuning::choices() const {
  static const std::vector<std::string> none;
  return on() ? tuner_->choices() : none;
}

}  // namespace resnet::cli
