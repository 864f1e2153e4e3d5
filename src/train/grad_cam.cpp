// Grad-CAM on a ResNet: one forward that keeps the stage's output, one backward from the class logit down to
// it, then the channel-weighted map (see resnet/grad_cam.h).
#include "resnet/grad_cam.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "dnnl/ops.h"
#include "resnet/error.h"

namespace resnet {
namespace {

// a, da [1,h,w,C] f32 -> ReLU(sum_c mean(da_c) * a_c) [h*w], in double.
std::vector<double> weighted_activation(const Tensor& a, const Tensor& da) {
  const int64_t pixels = a.dim(1) * a.dim(2), channels = a.dim(3);
  std::vector<double> alpha(size_t(channels), 0.0);
  for (int64_t p = 0; p < pixels; ++p)
    for (int64_t c = 0; c < channels; ++c) alpha[size_t(c)] += da.f32()[p * channels + c];
  for (double& weight : alpha) weight /= double(pixels);
  std::vector<double> cam(static_cast<size_t>(pixels));
  for (int64_t p = 0; p < pixels; ++p) {
    double sum = 0.0;
    for (int64_t c = 0; c < channels; ++c) sum += alpha[size_t(c)] * a.f32()[p * channels + c];
    cam[size_t(p)] = std::max(sum, 0.0);
  }
  return cam;
}

// (v - min) / (max - min) in place; all zeros when max == min.
void normalise_to_unit_range(std::vector<double>& v) {
  const auto [low, high] = std::minmax_element(v.begin(), v.end());
  const double lo = *low, range = *high - *low;
  for (double& x : v) x = range > 0.0 ? (x - lo) / range : 0.0;
}

// Source coordinate of output index i for bilinear resampling by in/out with half-pixel centres, clamped at
// 0 below (torch's area_pixel_compute_source_index for align_corners=False): the two neighbours and the
// weight of the second.
struct LinearTap {
  int64_t i0, i1;
  double w1;
};
LinearTap linear_tap(int64_t i, int64_t in, int64_t out) {
  const double src = std::max((double(i) + 0.5) * double(in) / double(out) - 0.5, 0.0);
  const int64_t i0 = std::min(int64_t(src), in - 1);
  return {i0, std::min(i0 + 1, in - 1), src - double(i0)};
}

// map [h*w] -> f32 [H,W], bilinear (F.interpolate(mode="bilinear", align_corners=False)).
Tensor upsample_bilinear(const std::vector<double>& map, int64_t h, int64_t w, int64_t out_h, int64_t out_w) {
  Tensor out({out_h, out_w});
  for (int64_t y = 0; y < out_h; ++y) {
    const LinearTap ty = linear_tap(y, h, out_h);
    for (int64_t x = 0; x < out_w; ++x) {
      const LinearTap tx = linear_tap(x, w, out_w);
      auto at = [&](int64_t row, int64_t col) { return map[size_t(row * w + col)]; };
      const double top = at(ty.i0, tx.i0) * (1 - tx.w1) + at(ty.i0, tx.i1) * tx.w1;
      const double bottom = at(ty.i1, tx.i0) * (1 - tx.w1) + at(ty.i1, tx.i1) * tx.w1;
      out.f32()[y * out_w + x] = float(top * (1 - ty.w1) + bottom * ty.w1);
    }
  }
  return out;
}

// Softmax of `logits` [classes] at k, in double.
double softmax_probability(const Tensor& logits, int64_t k) {
  const float* l = logits.f32();
  const int64_t classes = logits.numel();
  const double top = *std::max_element(l, l + classes);
  double denominator = 0.0;
  for (int64_t i = 0; i < classes; ++i) denominator += std::exp(double(l[i]) - top);
  return std::exp(double(l[k]) - top) / denominator;
}

// Eval with gradients for one scope; plain eval after, also when the forward or backward throws.
struct EvalBackwardScope {
  ResNet& model;
  explicit EvalBackwardScope(ResNet& m) : model(m) {
    model.set_training(false);
    model.set_eval_backward(true);
  }
  ~EvalBackwardScope() { model.set_eval_backward(false); }
  EvalBackwardScope(const EvalBackwardScope&) = delete;
  EvalBackwardScope& operator=(const EvalBackwardScope&) = delete;
};

}  // namespace

GradCam grad_cam(ResNet& model, const Tensor& x, const GradCamOptions& options) {
  if (x.rank() != 4 || x.dim(0) != 1) {
    throw InputError(fmt::format("grad_cam: expected one image [1,H,W,C], got {}", shape_str(x.shape())));
  }
  const std::vector<std::string> stages = model.stage_names();
  if (std::find(stages.begin(), stages.end(), options.layer) == stages.end()) {
    throw InputError(fmt::format("--layer {}: expected one of {}", options.layer, fmt::join(stages, ", ")));
  }
  const int64_t classes = model.config().num_classes;
  if (options.class_index < -1 || options.class_index >= classes) {
    throw InputError(fmt::format("--class {}: the model has {} classes (0 to {})", options.class_index,
                                 classes, classes - 1));
  }

  Tensor activation, dactivation;
  GradCam result;
  {
    const EvalBackwardScope eval_backward(model);
    result.logits = model.forward(x, options.layer, activation).reshaped({classes});  // [classes]
    const float* logits = result.logits.f32();
    result.class_index = options.class_index >= 0
                             ? options.class_index
                             : int64_t(std::max_element(logits, logits + classes) - logits);
    Tensor dlogits({1, classes});
    dlogits.f32()[result.class_index] = 1.0f;
    dactivation = ops::convert(model.backward_to(options.layer, dlogits), DType::f32);
  }
  result.probability = softmax_probability(result.logits, result.class_index);

  activation = ops::convert(activation, DType::f32);
  std::vector<double> cam = weighted_activation(activation, dactivation);  // [h*w]
  normalise_to_unit_range(cam);
  result.cam = upsample_bilinear(cam, activation.dim(1), activation.dim(2), x.dim(1), x.dim(2));
  return result;
}

}  // namespace resnet
