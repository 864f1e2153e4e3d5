#include "nn/dropout.h"

#include <fmt/format.h>

#include "dnnl/ops.h"
#include "nn/backward.h"
#include "resnet/error.h"

namespace resnet {

Dropout::Dropout(std::string path, float p, bool per_channel, uint64_t seed)
    : Module(std::move(path), per_channel ? "Dropout2d" : "Dropout"),
      p_(p),
      per_channel_(per_channel),
      rng_(seed) {
  if (p < 0.0f || p >= 1.0f)
    throw InputError(fmt::format("{}: dropout probability {} is not in [0, 1)", this->path(), p));
}

Tensor Dropout::forward(const Tensor& x) {
  if (!is_training() || p_ == 0.0f) {
    mask_ = Tensor();
    notify_forward(x, x);
    return x;
  }
  const int64_t n = x.dim(0);
  const int64_t channels = x.dim(-1);
  const int64_t per_sample = x.numel() / n;
  mask_ = per_channel_ ? Tensor({n, channels}) : Tensor(x.shape());
  float* mask = mask_.f32();
  const float keep_scale = 1.0f / (1.0f - p_);
  for (int64_t i = 0, m = mask_.numel(); i < m; ++i) mask[i] = rng_.uniform01() < p_ ? 0.0f : keep_scale;

  // bf16 activations (mixed precision) are masked in f32.
  const Tensor x32 = ops::convert(x, DType::f32);
  Tensor y(x.shape());
  const float* src = x32.f32();
  float* dst = y.f32();
  for (int64_t s = 0; s < n; ++s) {
    for (int64_t i = 0; i < per_sample; ++i) {
      const int64_t at = s * per_sample + i;
      dst[at] = src[at] * (per_channel_ ? mask[s * channels + i % channels] : mask[at]);
    }
  }
  y = ops::convert(y, x.dtype());
  notify_forward(x, y);
  return y;
}

// dy -> dy * mask: the dropped elements (or channels) get no gradient, the kept ones are scaled as in
// forward.
Tensor Dropout::backward(const Tensor& dy) {
  // Where forward was the identity (p = 0 in training; eval with gradients), so is backward.
  if ((is_training() && p_ == 0.0f) || (!is_training() && keeps_for_backward())) return dy;
  require_saved(*this, mask_.defined());
  const Tensor mask_tensor = std::move(mask_);
  const int64_t n = dy.dim(0), channels = dy.dim(-1), per_sample = dy.numel() / n;
  const int64_t expected = per_channel_ ? n * channels : dy.numel();
  if (mask_tensor.numel() != expected) {
    throw InputError(fmt::format("{}: output gradient {} does not match the forward's output", path(),
                                 shape_str(dy.shape())));
  }
  const Tensor dy32 = ops::convert(dy, DType::f32);
  Tensor dx = Tensor::empty(dy.shape());
  const float* mask = mask_tensor.f32();
  const float* src = dy32.f32();
  float* dst = dx.f32();
#pragma omp parallel for schedule(static)
  for (int64_t s = 0; s < n; ++s) {
    for (int64_t i = 0; i < per_sample; ++i) {
      const int64_t at = s * per_sample + i;
      dst[at] = src[at] * (per_channel_ ? mask[s * channels + i % channels] : mask[at]);
    }
  }
  return ops::convert(dx, dy.dtype());
}

std::string Dropout::extra_repr() const {
  return fmt::format("p={}, inplace=False", p_);
}

}  // namespace resnet
