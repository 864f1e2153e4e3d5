#include "infer/quantize_program.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "resnet/error.h"

namespace resnet::infer {
namespace {

constexpr double kTinyThreshold = 1e-6;

float required_scale(const Int8Calibration& calibration, const std::string& name) {
  const auto it = calibration.activation_scales.find(name);
  if (it == calibration.activation_scales.end()) {
    throw InputError(
        fmt::format("int8 calibration has no activation scale for '{}' (calibrated for another "
                    "architecture?)",
                    name));
  }
  if (!(it->second > 0.0f) || !std::isfinite(it->second)) {
    throw InputError(fmt::format("int8 calibration: activation scale of '{}' is {}, not a positive number",
                                 name, it->second));
  }
  return it->second;
}

// A stored copy of the weight scales must be the folded weights' own (to f32 rounding).
void check_weight_scales(const Int8Calibration& calibration, const Step& step, const Tensor& computed) {
  const auto it = calibration.weight_scales.find(step.name);
  if (it == calibration.weight_scales.end()) return;
  const Tensor& stored = it->second;
  bool same = stored.dtype() == DType::f32 && stored.numel() == computed.numel();
  for (int64_t o = 0; same && o < computed.numel(); ++o) {
    same = std::abs(stored.f32()[o] - computed.f32()[o]) <= 1e-5f * computed.f32()[o];
  }
  if (!same) {
    throw InputError(
        fmt::format("int8 calibration: the weight scales of '{}' do not match the weights (the "
                    "calibration belongs to other weights)",
                    step.name));
  }
}

}  // namespace

QuantizedWeight quantize_per_channel(const Tensor& weight) {
  const int64_t out = weight.dim(0);
  const int64_t per_channel = weight.numel() / out;
  QuantizedWeight q{Tensor::empty(weight.shape(), DType::s8), Tensor::empty({out})};
  const float* w = weight.f32();
  auto* values = q.values.data_as<int8_t>();
  for (int64_t o = 0; o < out; ++o) {
    const float* row = w + o * per_channel;
    float max_abs = 0.0f;
    for (int64_t i = 0; i < per_channel; ++i) max_abs = std::max(max_abs, std::abs(row[i]));
    const float scale = max_abs > 0.0f ? max_abs / 127.0f : 1.0f;
    q.scales.f32()[o] = scale;
    for (int64_t i = 0; i < per_channel; ++i) {
      const float r = std::nearbyint(row[i] / scale);
      values[o * per_channel + i] = static_cast<int8_t>(std::clamp(r, -127.0f, 127.0f));
    }
  }
  return q;
}

float activation_scale(double threshold, DType type) {
  const double t = std::max(threshold, kTinyThreshold);
  return static_cast<float>(t / (type == DType::u8 ? 255.0 : 127.0));
}

DType int8_output_type(const Step& step, DType src_type) {
  switch (step.kind) {
    case StepKind::conv:
      return step.relu ? DType::u8 : DType::s8;
    case StepKind::max_pool:
    case StepKind::avg_pool:  // with a scale of its own (quantize_program: f32 where it has none)
      return src_type;
    case StepKind::linear:
    case StepKind::upsample_nearest:  // not planned in int8 (quantize_program refuses them)
    case StepKind::concat:
      return DType::f32;
  }
  return DType::f32;
}

void quantize_program(Program& program, const Int8Calibration& calibration) {
  if (!program.outputs.empty()) {
    throw InputError("an int8 plan computes logits only: compute features with --dtype f32 or bf16");
  }
  for (const Step& step : program.steps) {
    if (step.kind == StepKind::upsample_nearest || step.kind == StepKind::concat) {
      throw InputError(fmt::format("{}: the int8 plan has no {} step (use f32 or bf16)", step.name,
                                   step_kind_name(step.kind)));
    }
  }
  // The type and scale of every value as the steps leave it (an accumulated value changes both).
  std::vector<DType> type(static_cast<size_t>(program.num_values), DType::f32);
  std::vector<float> scale(static_cast<size_t>(program.num_values), 1.0f);
  program.int8 = true;
  program.input_scale = required_scale(calibration, "input");
  type[static_cast<size_t>(program.input)] = DType::s8;
  scale[static_cast<size_t>(program.input)] = program.input_scale;
  for (Step& step : program.steps) {
    const auto src = static_cast<size_t>(step.src), dst = static_cast<size_t>(step.dst);
    StepInt8& q = step.int8;
    q.src_scale = scale[src];
    q.dst_type = int8_output_type(step, type[src]);
    switch (step.kind) {
      case StepKind::conv: {
        if (type[src] == DType::f32)
          throw InternalError(fmt::format("{}: int8 conv after an f32 step", step.name));
        q.dst_scale = required_scale(calibration, step.name);
        if (step.accumulate) {
          q.sum_type = type[dst];
          q.sum_scale = scale[dst];
        }
        QuantizedWeight w = quantize_per_channel(step.weight);
        check_weight_scales(calibration, step, w.scales);
        q.weight = std::move(w.values);
        q.weight_scales = std::move(w.scales);
        break;
      }
      case StepKind::max_pool:
        q.dst_scale = scale[src];
        break;
      case StepKind::avg_pool:  // integers of the pooled values' own scale, or f32 (calibrated before it had
                                // one)
        if (calibration.activation_scales.contains(step.name)) {
          q.dst_scale = required_scale(calibration, step.name);
        } else {
          q.dst_type = DType::f32;
          q.dst_scale = 1.0f;
        }
        break;
      case StepKind::linear:
        q.dst_scale = 1.0f;             // f32 logits
        if (type[src] != DType::f32) {  // the pooled integers: an int8 classifier
          QuantizedWeight w = quantize_per_channel(step.weight);
          q.weight = std::move(w.values);
          q.weight_scales = std::move(w.scales);
        }
        break;
      case StepKind::upsample_nearest:
      case StepKind::concat:
        q.dst_scale = 1.0f;
        break;
    }
    type[dst] = q.dst_type;
    scale[dst] = q.dst_scale;
  }
}

}  // namespace resnet::infer
