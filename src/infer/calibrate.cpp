// Calibration: activation statistics from the f32 plan, turned into the per-tensor scales of the int8 plan.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "infer/lower.h"
#include "infer/quantize.h"
#include "resnet/error.h"
#include "resnet/model.h"
#include "resnet/plan.h"
#include "resnet/quantize.h"

namespace resnet {

std::string_view calibration_method_name(CalibrationMethod method) {
  return method == CalibrationMethod::minmax ? "minmax" : "percentile";
}

CalibrationMethod parse_calibration_method(std::string_view text, std::string_view flag) {
  if (text == "minmax") return CalibrationMethod::minmax;
  if (text == "percentile") return CalibrationMethod::percentile;
  throw InputError(fmt::format("{} {}: expected minmax or percentile", flag, text));
}

// ---- AbsHistogram ----

void AbsHistogram::grow_to(double value) {
  if (range_ == 0.0) {
    range_ = value;
    return;
  }
  while (range_ < value) {  // halve the resolution: bins 2i and 2i+1 become bin i
    for (int i = 0; i < kBins / 2; ++i) bins_[size_t(i)] = bins_[size_t(2 * i)] + bins_[size_t(2 * i + 1)];
    std::fill(bins_.begin() + kBins / 2, bins_.end(), 0);
    range_ *= 2.0;
  }
}

void AbsHistogram::add(const float* values, int64_t count) {
  float batch_max = 0.0f;
  for (int64_t i = 0; i < count; ++i) batch_max = std::max(batch_max, std::abs(values[i]));
  if (!std::isfinite(batch_max)) throw InputError("calibration: an activation is not finite (NaN or inf)");
  max_abs_ = std::max(max_abs_, double(batch_max));
  count_ += count;
  if (batch_max > 0.0f) grow_to(batch_max);
  if (range_ == 0.0) {  // all zeros so far
    bins_[0] += count;
    return;
  }
  const double per_bin = kBins / range_;
  for (int64_t i = 0; i < count; ++i) {
    const auto bin = static_cast<int64_t>(std::abs(double(values[i])) * per_bin);
    ++bins_[size_t(std::min<int64_t>(bin, kBins - 1))];
  }
}

double AbsHistogram::percentile(double q) const {
  if (count_ == 0 || q >= 100.0) return max_abs_;
  const double wanted = q / 100.0 * double(count_);
  int64_t seen = 0;
  for (int i = 0; i < kBins; ++i) {
    seen += bins_[size_t(i)];
    if (double(seen) >= wanted) return std::min(max_abs_, range_ * (i + 1) / kBins);
  }
  return max_abs_;
}

// ---- Calibrator ----

struct Calibrator::Impl {
  ResNet& model;
  CalibrationOptions options;
  std::map<std::string, DType> quantized;  // the tensors that get a scale, and their int8 type
  std::map<std::string, AbsHistogram> histograms;
  std::optional<InferencePlan> plan;
  int64_t images = 0;
};

Calibrator::Calibrator(ResNet& model, CalibrationOptions options)
    : impl_(std::make_unique<Impl>(Impl{.model = model, .options = options})) {
  if (options.method == CalibrationMethod::percentile &&
      !(options.percentile > 0.0 && options.percentile <= 100.0)) {
    throw InputError(fmt::format("--percentile {}: must be in (0, 100]", options.percentile));
  }
  const infer::Program program = infer::lower_resnet(model);
  impl_->quantized["input"] = DType::s8;
  for (const infer::Step& step : program.steps) {
    if (step.kind == infer::StepKind::conv)
      impl_->quantized[step.name] = infer::int8_output_type(step, DType::s8);
  }
}

Calibrator::~Calibrator() = default;

void Calibrator::observe(const Tensor& images) {
  Impl& m = *impl_;
  if (!m.plan) {
    m.plan.emplace(InferencePlan::compile(m.model, Precision::f32, images.shape()));
  } else if (m.plan->input_shape() != images.shape()) {
    m.plan.emplace(m.plan->reshaped(images.shape()));
  }
  Tensor logits = Tensor::empty(m.plan->output_shape());
  m.plan->run_observed(images, logits, [&](std::string_view name, const Tensor& value) {
    const std::string key(name);
    if (m.quantized.contains(key)) m.histograms[key].add(value.f32(), value.numel());
  });
  m.images += images.dim(0);
}

Int8Calibration Calibrator::finish() const {
  const Impl& m = *impl_;
  if (m.images == 0) throw InputError("calibration: no images observed");
  Int8Calibration out;
  out.method = m.options.method;
  out.percentile = m.options.method == CalibrationMethod::percentile ? m.options.percentile : 0.0;
  out.images = m.images;
  for (const auto& [name, type] : m.quantized) {
    const AbsHistogram& h = m.histograms.at(name);
    const double threshold =
        m.options.method == CalibrationMethod::minmax ? h.max_abs() : h.percentile(m.options.percentile);
    out.activation_scales[name] = infer::activation_scale(threshold, type);
  }
  return out;
}

}  // namespace resnet
