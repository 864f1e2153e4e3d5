// Calibration: activation statistics from the f32 plan, turned into the per-tensor scales of the int8 plan.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <vector>

#include "infer/abs_histogram.h"
#include "infer/lower.h"
#include "infer/quantize_program.h"
#include "resnet/calibration.h"
#include "resnet/error.h"
#include "resnet/model.h"
#include "resnet/plan.h"

namespace resnet {

std::string_view calibration_method_name(CalibrationMethod method) {
  return method == CalibrationMethod::minmax ? "minmax" : "percentile";
}

CalibrationMethod parse_calibration_method(std::string_view text, std::string_view flag) {
  if (text == "minmax") return CalibrationMethod::minmax;
  if (text == "percentile") return CalibrationMethod::percentile;
  throw InputError(fmt::format("{} {}: expected minmax or percentile", flag, text));
}

// ---- Calibrator ----

struct Calibrator::Impl {
  ResNet& model;
  CalibrationOptions options;
  std::map<std::string, DType> quantized;  // the tensors that get a scale, and their int8 type
  std::map<std::string, infer::AbsHistogram> histograms;
  std::optional<InferencePlan> plan;
  int64_t images = 0;
};

Calibrator::Calibrator(ResNet& model, CalibrationOptions options)
    : impl_(std::make_unique<Impl>(Impl{.model = model, .options = options})) {
  if (options.method == CalibrationMethod::percentile &&
      !(options.percentile > 0.0 && options.percentile <= 100.0)) {
    throw InputError(fmt::format("--percentile {}: must be in (0, 100]", options.percentile));
  }
  // The tensors the int8 plan quantizes: the input, every conv's output and the average pool's (the
  // classifier's input: a mean far below the largest activation before it, so it gets a scale of its own).
  const infer::Program program = infer::lower_resnet(model);
  std::vector<DType> type(static_cast<size_t>(program.num_values), DType::f32);
  type[static_cast<size_t>(program.input)] = DType::s8;
  impl_->quantized["input"] = DType::s8;
  for (const infer::Step& step : program.steps) {
    const DType out = infer::int8_output_type(step, type[static_cast<size_t>(step.src)]);
    type[static_cast<size_t>(step.dst)] = out;
    if (step.kind == infer::StepKind::conv || step.kind == infer::StepKind::avg_pool)
      impl_->quantized[step.name] = out;
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
    const infer::AbsHistogram& h = m.histograms.at(name);
    const double threshold =
        m.options.method == CalibrationMethod::minmax ? h.max_abs() : h.percentile(m.options.percentile);
    out.activation_scales[name] = infer::activation_scale(threshold, type);
  }
  return out;
}

}  // namespace resnet
