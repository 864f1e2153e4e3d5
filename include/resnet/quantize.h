// int8 post-training quantization of the InferencePlan.
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
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resnet/module.h"
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

// A running histogram of |x| for percentile thresholds: 2048 bins over [0, range); when a value beyond the
// range arrives, the range doubles (pairs of bins merge, exactly) until it fits. The percentile is read at
// the upper edge of its bin, so it errs by at most range/2048 upwards.
class AbsHistogram {
 public:
  static constexpr int kBins = 2048;
  void add(const float* values, int64_t count);
  double max_abs() const { return max_abs_; }
  int64_t count() const { return count_; }
  // The smallest threshold t with at least q% of the values |x| <= t (q in (0, 100]); max_abs() at 100.
  double percentile(double q) const;

 private:
  void grow_to(double value);
  std::vector<int64_t> bins_ = std::vector<int64_t>(kBins, 0);
  double range_ = 0.0;
  double max_abs_ = 0.0;
  int64_t count_ = 0;
};

// ---- the .int8.safetensors file ----
// The model's state_dict (torchvision names, f32) except that each convolution weight "<conv>.weight" is
// stored as s8 (resnet50: 32% of the f32 file; the classifier stays f32):
//   quant.int8_weight.<conv path>          s8 [O,I,KH,KW]  round(weight / scale), per output channel
//   quant.int8_weight_scale.<conv path>    f32 [O]  max |weight[o]| / 127
//   quant.activation_scale.<input | conv>  f32 [1]  calibrated activation scales
//   quant.weight_scale.<conv path>         f32 [O]  per-output-channel scales of the folded weights
// and the metadata format = "resnet.cpp int8", arch, method, percentile, calibration_images, and anything in
// `extra_metadata` (dataset, stem, ...). Written atomically. Loaded, the s8 weights become f32
// "<conv>.weight" = s8 * scale, so the file still loads as an f32 model (with those rounded weights). Folding
// a batch norm only scales each output channel, so the int8 plan re-quantizes them to the same s8 values,
// but for ties at .5 that float rounding breaks (36 of 23.5 million resnet50 weights differ by 1).
void save_int8_weights(ResNet& model, const Int8Calibration& calibration, const std::string& path,
                       const std::map<std::string, std::string>& extra_metadata = {});

// Removes the quant.* entries from `tensors` (as read from `source`, with its safetensors `metadata`), puts
// the f32 convolution weights rebuilt from the s8 ones in their place, and returns the calibration; nullopt
// when there are no quant.* entries (a plain weights file). Throws InputError naming `source` and the entry
// for malformed ones (wrong dtype or shape, a weight without its scales, a non-positive scale).
std::optional<Int8Calibration> take_int8_calibration(StateDict& tensors,
                                                     const std::map<std::string, std::string>& metadata,
                                                     const std::string& source);

}  // namespace resnet
