// The .int8.safetensors file: the model's own state_dict plus the quant.* scales (see resnet/quantize.h).
#include <fmt/format.h>

#include <cmath>

#include "infer/lower.h"
#include "infer/quantize.h"
#include "resnet/error.h"
#include "resnet/model.h"
#include "resnet/quantize.h"
#include "resnet/weights.h"

namespace resnet {
namespace {

constexpr std::string_view kActivationPrefix = "quant.activation_scale.";
constexpr std::string_view kWeightPrefix = "quant.weight_scale.";
constexpr std::string_view kFormat = "resnet.cpp int8";

}  // namespace

void save_int8_weights(ResNet& model, const Int8Calibration& calibration, const std::string& path,
                       const std::map<std::string, std::string>& extra_metadata) {
  StateDict tensors = model.state_dict();
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
      "f32 state_dict (torchvision names); int8 weights = round(folded / quant.weight_scale)";
  save_safetensors(tensors, path, metadata);
}

std::optional<Int8Calibration> take_int8_calibration(StateDict& tensors,
                                                     const std::map<std::string, std::string>& metadata,
                                                     const std::string& source) {
  Int8Calibration out;
  StateDict rest;
  bool found = false;
  for (NamedTensor& nt : tensors) {
    const bool activation = nt.name.starts_with(kActivationPrefix);
    const bool weight = nt.name.starts_with(kWeightPrefix);
    if (!activation && !weight) {
      if (nt.name.starts_with("quant."))
        throw InputError(fmt::format("{}: unknown entry '{}'", source, nt.name));
      rest.push_back(std::move(nt));
      continue;
    }
    found = true;
    if (nt.tensor.dtype() != DType::f32) {
      throw InputError(
          fmt::format("{}: '{}' must be F32, is {}", source, nt.name, dtype_name(nt.tensor.dtype())));
    }
    if (activation) {
      if (nt.tensor.numel() != 1) {
        throw InputError(fmt::format("{}: '{}' must hold one scale, has {}", source, nt.name,
                                     shape_str(nt.tensor.shape())));
      }
      const float scale = nt.tensor.f32()[0];
      if (!(scale > 0.0f) || !std::isfinite(scale)) {
        throw InputError(fmt::format("{}: '{}' is {}, not a positive scale", source, nt.name, scale));
      }
      out.activation_scales[nt.name.substr(kActivationPrefix.size())] = scale;
    } else {
      out.weight_scales[nt.name.substr(kWeightPrefix.size())] = nt.tensor;
    }
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
