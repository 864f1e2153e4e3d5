#include "core/window.h"

#include <fmt/format.h>

#include <algorithm>

namespace resnet {
namespace {

// Floor division that is also right for a negative numerator (b > 0).
int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

int64_t extent(int64_t kernel, int64_t dilation) {
  return dilation * (kernel - 1) + 1;
}

}  // namespace

int64_t window_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  return floor_div(in + 2 * pad - extent(kernel, dilation), stride) + 1;
}

int64_t window_far_padding(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  const int64_t out = window_output_size(in, kernel, stride, pad, dilation);
  // The last window starts at (out - 1) * stride in padded coordinates and ends `extent` later.
  return std::max<int64_t>(0, (out - 1) * stride + extent(kernel, dilation) - in - pad);
}

Window Window::square(int64_t kernel, int64_t stride, int64_t padding, int64_t dilation, int64_t groups) {
  return {.kernel_h = kernel,
          .kernel_w = kernel,
          .stride_h = stride,
          .stride_w = stride,
          .pad_h = padding,
          .pad_w = padding,
          .dilation_h = dilation,
          .dilation_w = dilation,
          .groups = groups};
}

int64_t Window::output_h(int64_t in_h) const {
  return window_output_size(in_h, kernel_h, stride_h, pad_h, dilation_h);
}
int64_t Window::output_w(int64_t in_w) const {
  return window_output_size(in_w, kernel_w, stride_w, pad_w, dilation_w);
}
int64_t Window::pad_bottom(int64_t in_h) const {
  return window_far_padding(in_h, kernel_h, stride_h, pad_h, dilation_h);
}
int64_t Window::pad_right(int64_t in_w) const {
  return window_far_padding(in_w, kernel_w, stride_w, pad_w, dilation_w);
}

std::string int_or_pair(int64_t h, int64_t w) {
  return h == w ? fmt::format("{}", h) : fmt::format("({}, {})", h, w);
}

}  // namespace resnet
