// int8 post-training quantization of the InferencePlan: calibration of the activation scales.
// The .int8.safetensors file that keeps them: resnet/int8_weights.h.
//
// Weights: symmetric, per output channel, from the BN-folded f32 weights: scale[o] = max|w'[o]| / 127,
// q = round(w' / scale[o]) in [-127, 127] (computed when the plan is compiled; the file keeps a copy).
// Activations: one scale per tensor, from calibration batches run through the f32 plan: the threshold T is
// the largest |x| seen (minmax) or the given percentile of |x| (percentile); a tensor that is a ReLU output
// is u8 with scale T / 255, any other (the normalised input image, a downsample shortcut) s8 with scale T /
// 127. Symmetric everywhere: no zero points. The classifier (global average pool + fc) runs in f32.
//
//   resnet::Calibrator calibrator(model, {.method = resnet::CalibrationMethod::minmax});
//   for (const Tensor& batch : calibration_batches) calibrator.observe(batch);  // f32 [N,H,W,C]
//   auto calibration = std::make_shared<const resnet::Int8Calibration>(calibrator.finish());
//   auto plan = resnet::InferencePlan::compile(model, resnet::Precision::int8, shape, {.int8 = calibration});
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "resnet/tensor.h"

namespace resnet {

class ResNet;

enum class CalibrationMethod : uint8_t { minmax, percentile };
std::string_view calibration_method_name(CalibrationMethod method);  // "minmax", "percentile"
// "minmax" | "percentile"; anything else throws InputError naming `flag`.
CalibrationMethod parse_calibration_method(std::string_view text, std::string_view flag = "--method");

struct CalibrationOptions {
  CalibrationMethod method = CalibrationMethod::minmax;
  double percentile = 99.99;  // of |x|, in (0, 100]; percentile only
};

// What an int8 plan needs beyond the model: the calibrated scale (real value per integer step) of the input
// image ("input") and of the output of every convolution (by its module path, e.g. "layer1.0.conv2",
// "layer2.0.downsample.0"). Max pooling keeps its input's scale.
struct Int8Calibration {
  CalibrationMethod method = CalibrationMethod::minmax;
  double percentile = 0.0;  // percentile only
  int64_t images = 0;       // calibration images seen
  std::map<std::string, float> activation_scales;
  // Per-output-channel weight scales as a file stored them (f32 [O] by conv path). Optional: the plan
  // computes them from the folded weights and, where one is given here, refuses a mismatch (weights from
  // another file).
  std::map<std::string, Tensor> weight_scales;
};

// Collects activation statistics over calibration batches from the model's f32 inference plan (BN folded,
// so the tensors are exactly those the int8 plan quantizes).
class Calibrator {
 public:
  Calibrator(ResNet& model, CalibrationOptions options);
  ~Calibrator();
  Calibrator(const Calibrator&) = delete;
  Calibrator& operator=(const Calibrator&) = delete;

  // images: f32 [N,H,W,C]; any batch size (a plan is compiled per new shape).
  void observe(const Tensor& images);
  // The scales from everything observed. Throws InputError if nothing was observed.
  Int8Calibration finish() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace resnet
