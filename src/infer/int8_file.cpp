// The .int8.safetensors file: the model's state_dict with every convolution weight stored as s8 with
// per-output-channel scales, plus the quant.* calibration scales (see resnet/int8_weights.h).
#include <fmt/format.h>

#include <cmath>

#include "infer/lower.h"
#include "infer/quantize_program.h"
#include "io/json_input.h"
#include "resnet/error.h"
#include "resnet/int8_weights.h"
#include "resnet/model.h"
#include "resnet/weights.h"

namespace resnet {
namespace {

constexpr std::string_view kActivationPrefix = "quant.activation_scale.";
constexpr std::string_view kWeightPrefix = "quant.weight_scale.";
constexpr std::string_view kInt8WeightPrefix = "quant.int8_weight.";             // s8 [O, I/g, KH, KW]
constexpr std::string_view kInt8WeightScalePrefix = "quant.int8_weight_scale.";  // f32 [O]
constexpr std::string_view kFormat = "resnet.cpp int8";

// ResNet's only rank-4 parameters are convolution weights ("<conv path>.weight").
bool is_conv_weight(const NamedTensor& nt) {
  return nt.tensor.rank() == 4 && nt.name.ends_with(".weight");
}

std::string conv_path(const std::string& weight_name) {
  return weight_name.substr(0, weight_name.size() - std::string_view(".weight").size());
}

void check_positive_scales(const Tensor& scales, const std::string& name, const std::string& source) {
  for (int64_t i = 0; i < scales.numel(); ++i) {
    const float s = scales.f32()[i];
    if (!(s > 0.0f) || !std::isfinite(s)) {
      throw InputError(
          fmt::format("{}: '{}' holds {} at {}, not a positive scale", source, excerpt(name), s, i));
    }
  }
}

// q s8 [O, ...] and its per-output-channel scales f32 [O] -> the f32 weight q * scales[o].
Tensor dequantize_per_channel(const Tensor& q, const Tensor& scales) {
  Tensor w = Tensor::empty(q.shape());
  const int64_t per_channel = q.numel() / q.dim(0);
  const auto* values = q.data_as<int8_t>();
  for (int64_t i = 0; i < q.numel(); ++i) {
    w.f32()[i] = static_cast<float>(values[i]) * scales.f32()[i / per_channel];
  }
  return w;
}

// The f32 "<conv>.weight" entries rebuilt from the s8 weights and their scales, every one checked.
StateDict dequantize_conv_weights(const std::map<std::string, Tensor>& weights,
                                  const std::map<std::string, Tensor>& scales, const std::string& source) {
  StateDict out;
  for (const auto& [conv, q] : weights) {
    const std::string name = std::string(kInt8WeightPrefix) + conv;
    const std::string scale_name = std::string(kInt8WeightScalePrefix) + conv;
    const auto scale = scales.find(conv);
    if (scale == scales.end())
      throw InputError(fmt::format("{}: '{}' has no '{}'", source, excerpt(name), excerpt(scale_name)));
    if (q.dtype() != DType::s8 || q.rank() != 4) {
      throw InputError(fmt::format("{}: '{}' must be an I8 convolution weight [O,I,KH,KW], is {} {}", source,
                                   excerpt(name), dtype_name(q.dtype()), shape_str(q.shape())));
    }
    if (q.numel() == 0) {  // also: the per-channel division below needs O > 0
      throw InputError(fmt::format("{}: '{}' is an empty convolution weight {}: every dimension must be > 0",
                                   source, excerpt(name), shape_str(q.shape())));
    }
    if (scale->second.shape() != Shape{q.dim(0)}) {
      throw InputError(fmt::format("{}: '{}' must hold {} scales (one per output channel), has {}", source,
                                   scale_name, q.dim(0), shape_str(scale->second.shape())));
    }
    check_positive_scales(scale->second, scale_name, source);
    out.push_back({conv + ".weight", dequantize_per_channel(q, scale->second)});
  }
  for (const auto& [conv, scale] : scales) {
    if (!weights.contains(conv)) {
      throw InputError(fmt::format("{}: '{}{}' has no '{}{}'", source, std::string(kInt8WeightScalePrefix),
                                   excerpt(conv), std::string(kInt8WeightPrefix), excerpt(conv)));
    }
  }
  return out;
}

}  // namespace

void save_int8_weights(ResNet& model, const Int8Calibration& calibration, const std::string& path,
                       const std::map<std::string, std::string>& extra_metadata) {
  StateDict tensors;
  for (NamedTensor& nt : model.state_dict()) {
    if (!is_conv_weight(nt)) {
      tensors.push_back(std::move(nt));
      continue;
    }
    infer::QuantizedWeight q = infer::quantize_per_channel(nt.tensor);
    tensors.push_back({std::string(kInt8WeightPrefix) + conv_path(nt.name), std::move(q.values)});
    tensors.push_back({std::string(kInt8WeightScalePrefix) + conv_path(nt.name), std::move(q.scales)});
  }
  for (const auto& [name, scale] : calibration.activation_scales) {
    tensors.push_back({std::string(kActivationPrefix) + name, Tensor::full({1}, scale)});
  }
  for (const infer::Step& step : infer::lower_resnet(model).steps) {
    if (step.kind != infer::StepKind::conv) continue;
    tensors.push_back(
        {std::string(kWeightPrefix) + step.name, infer::quantize_per_channel(step.weight).scales});
  }
  std::map<std::string, std::string> metadata = extra_metadata;
  metadata["format"] = kFormat;
  metadata["method"] = calibration_method_name(calibration.method);
  if (calibration.method == CalibrationMethod::percentile) {
    metadata["percentile"] = fmt::format("{}", calibration.percentile);
  }
  metadata["calibration_images"] = std::to_string(calibration.images);
  metadata["weights"] =
      "state_dict (torchvision names) with each conv weight as s8 quant.int8_weight.<conv> times f32 "
      "quant.int8_weight_scale.<conv> per output channel; int8 plan weights = round(folded / "
      "quant.weight_scale)";
  save_safetensors(tensors, path, metadata);
}

std::optional<Int8Calibration> take_int8_calibration(StateDict& tensors,
                                                     const std::map<std::string, std::string>& metadata,
                                                     const std::string& source) {
  Int8Calibration out;
  StateDict rest;
  std::map<std::string, Tensor> int8_weights, int8_weight_scales;
  bool found = false;
  for (NamedTensor& nt : tensors) {
    if (nt.name.starts_with(kInt8WeightPrefix)) {
      int8_weights[nt.name.substr(kInt8WeightPrefix.size())] = nt.tensor;
      found = true;
      continue;
    }
    const bool int8_weight_scale = nt.name.starts_with(kInt8WeightScalePrefix);
    const bool activation = nt.name.starts_with(kActivationPrefix);
    const bool weight = nt.name.starts_with(kWeightPrefix);
    if (!activation && !weight && !int8_weight_scale) {
      if (nt.name.starts_with("quant."))
        throw InputError(fmt::format("{}: unknown entry '{}'", source, excerpt(nt.name)));
      rest.push_back(std::move(nt));
      continue;
    }
    found = true;
    if (nt.tensor.dtype() != DType::f32) {
      throw InputError(fmt::format("{}: '{}' must be F32, is {}", source, excerpt(nt.name),
                                   dtype_name(nt.tensor.dtype())));
    }
    if (int8_weight_scale) {
      int8_weight_scales[nt.name.substr(kInt8WeightScalePrefix.size())] = nt.tensor;
    } else if (activation) {
      if (nt.tensor.numel() != 1) {
        throw InputError(fmt::format("{}: '{}' must hold one scale, has {}", source, excerpt(nt.name),
                                     shape_str(nt.tensor.shape())));
      }
      check_positive_scales(nt.tensor, nt.name, source);
      out.activation_scales[nt.name.substr(kActivationPrefix.size())] = nt.tensor.f32()[0];
    } else {
      out.weight_scales[nt.name.substr(kWeightPrefix.size())] = nt.tensor;
    }
  }
  for (NamedTensor& nt : dequantize_conv_weights(int8_weights, int8_weight_scales, source)) {
    rest.push_back(std::move(nt));
  }
  tensors = std::move(rest);
  if (!found) return std::nullopt;
  auto text = [&](const char* key) {
    const auto it = metadata.find(key);
    return it == metadata.end() ? std::string() : it->second;
  };
  if (const std::string method = text("method"); !method.empty()) {
    out.method = parse_calibration_method(method, source + ": metadata method");
  }
  if (const std::string p = text("percentile"); !p.empty()) out.percentile = std::atof(p.c_str());
  if (const std::string n = text("calibration_images"); !n.empty()) out.images = std::atoll(n.c_str());
  return out;
}

}  // namespace resnet
