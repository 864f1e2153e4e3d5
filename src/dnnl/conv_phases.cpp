#include "dnnl/conv_phases.h"

#include <fmt/format.h>

#include <cstring>

#include "dnnl/ops.h"
#include "resnet/error.h"

namespace resnet::ops {
namespace {
constexpr int64_t kStride = 2;
}  // namespace

bool phases_train_data(const Shape& x, const Shape& w, const Window& win, DType dtype) {
  return dtype == DType::f32 && x.size() == 4 && w.size() == 4 && w[2] == 1 && w[3] == 1 && x[3] == w[1] &&
         win.kernel_h == 1 && win.kernel_w == 1 && win.stride_h == kStride && win.stride_w == kStride &&
         win.pad_h == 0 && win.pad_w == 0 && win.dilation_h == 1 && win.dilation_w == 1 && win.groups == 1;
}

// Phase 00 of dx is the 1x1 stride-1 backward-data of dy; every other pixel of dx is read by no output.
Tensor conv2d_backward_data_phases(const Tensor& dy, const Tensor& w, const Shape& x_shape,
                                   const Window& win) {
  if (!phases_train_data(x_shape, w.shape(), win, dy.dtype())) {
    throw InternalError(fmt::format("conv2d: input {} weight {} is not a stride-2 1x1 phases convolution",
                                    shape_str(x_shape), shape_str(w.shape())));
  }
  const int64_t n = x_shape[0], h = x_shape[1], width = x_shape[2], c = x_shape[3];
  const int64_t oh = dy.dim(1), ow = dy.dim(2);
  const Tensor read = conv2d_backward_data(dy, w, {n, oh, ow, c}, Window::square(1, 1));  // [N,OH,OW,C]
  Tensor dx = Tensor::empty(x_shape, dy.dtype());
  const size_t pixel_bytes = static_cast<size_t>(c) * dtype_size(dy.dtype());
  const auto* from = static_cast<const char*>(read.data());
  auto* to = static_cast<char*>(dx.data());
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < h; ++i) {
      char* row = to + (b * h + i) * width * pixel_bytes;
      if (i % kStride != 0 || i / kStride >= oh) {
        std::memset(row, 0, width * pixel_bytes);
        continue;
      }
      const char* read_row = from + (b * oh + i / kStride) * ow * pixel_bytes;
      for (int64_t j = 0; j < width; ++j) {
        if (j % kStride == 0 && j / kStride < ow)
          std::memcpy(row + j * pixel_bytes, read_row + (j / kStride) * pixel_bytes, pixel_bytes);
        else
          std::memset(row + j * pixel_bytes, 0, pixel_bytes);
      }
    }
  return dx;
}

}  // namespace resnet::ops
