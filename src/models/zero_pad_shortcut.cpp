#include "models/zero_pad_shortcut.h"

#include <fmt/format.h>

#include <cstddef>
#include <cstring>

#include "resnet/error.h"

namespace resnet {

ZeroPadShortcut::ZeroPadShortcut(std::string path, int64_t in_channels, int64_t out_channels, int64_t stride)
    : Module(std::move(path), "ZeroPadShortcut"),
      in_channels_(in_channels),
      out_channels_(out_channels),
      stride_(stride),
      pad_before_((out_channels - in_channels) / 2) {
  if (out_channels < in_channels) {
    throw InputError(
        fmt::format("{}: cannot zero-pad {} channels down to {}", this->path(), in_channels, out_channels));
  }
}

Tensor ZeroPadShortcut::forward(const Tensor& x) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2);
  // ceil(h / stride) x ceil(w / stride) kept pixels.
  const int64_t oh = window().output_h(h), ow = window().output_w(w);
  Tensor y({n, oh, ow, out_channels_}, x.dtype());  // zeros: the padded channels stay zero
  // Byte-wise, so f32 and bf16 activations alike.
  const size_t element = dtype_size(x.dtype());
  const auto* src = static_cast<const std::byte*>(x.data());
  auto* dst = static_cast<std::byte*>(y.data());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        const int64_t from = ((b * h + i * stride_) * w + j * stride_) * in_channels_;
        const int64_t to = ((b * oh + i) * ow + j) * out_channels_ + pad_before_;
        std::memcpy(dst + to * element, src + from * element, static_cast<size_t>(in_channels_) * element);
      }
  input_shape_ = x.shape();
  notify_forward(x, y);
  return y;
}

Tensor ZeroPadShortcut::backward(const Tensor& dy) {
  const int64_t n = input_shape_[0], h = input_shape_[1], w = input_shape_[2];
  const int64_t oh = dy.dim(1), ow = dy.dim(2);
  Tensor dx(input_shape_, dy.dtype());  // zeros: the pixels the stride skipped get no gradient
  const size_t element = dtype_size(dy.dtype());
  const auto* src = static_cast<const std::byte*>(dy.data());
  auto* dst = static_cast<std::byte*>(dx.data());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        const int64_t from = ((b * oh + i) * ow + j) * out_channels_ + pad_before_;
        const int64_t to = ((b * h + i * stride_) * w + j * stride_) * in_channels_;
        std::memcpy(dst + to * element, src + from * element, static_cast<size_t>(in_channels_) * element);
      }
  return dx;
}

std::string ZeroPadShortcut::extra_repr() const {
  return fmt::format("stride={}, channels={}->{}", stride_, in_channels_, out_channels_);
}

}  // namespace resnet
