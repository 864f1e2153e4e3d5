// One convolution or pooling window over an image, and the arithmetic of its output size and padding: the
// single description that Conv2d, MaxPool2d, the layer-by-layer kernels (src/dnnl/ops.h) and the inference
// plan's steps (src/infer/program.h) share.
//
// Sizes follow PyTorch: the window covers dilation * (kernel - 1) + 1 input positions (its extent), `pad`
// positions of padding lie before the first row/column and after the last, and the output has as many
// positions as whole windows fit (floor mode). oneDNN wants the far-side padding stated exactly; pad_bottom /
// pad_right give it.
#pragma once

#include <cstdint>
#include <string>

namespace resnet {

struct Window {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;            // top/left padding (PyTorch pads the bottom/right alike)
  int64_t dilation_h = 1, dilation_w = 1;  // PyTorch convention: 1 = dense
  int64_t groups = 1;                      // convolutions: channels split into this many groups

  // The window of torch.nn.Conv2d(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation,
  // groups=groups) or MaxPool2d with square (int) arguments.
  static Window square(int64_t kernel, int64_t stride = 1, int64_t padding = 0, int64_t dilation = 1,
                       int64_t groups = 1);
  // Output rows for `in_h` input rows (columns for `in_w` columns): PyTorch's floor-mode size. Below 1 when
  // the input is too small for the window.
  int64_t output_h(int64_t in_h) const;
  int64_t output_w(int64_t in_w) const;
  // The padding after the last row (column) that gives that output size, as oneDNN wants it. Meaningful when
  // the output size is at least 1.
  int64_t pad_bottom(int64_t in_h) const;
  int64_t pad_right(int64_t in_w) const;
};

// Along one axis of `in` positions: floor((in + 2 * pad - extent) / stride) + 1 with extent = dilation *
// (kernel - 1) + 1, floor taken toward minus infinity (so a too-small input gives 0 or less, never 1).
int64_t window_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation);
// The far-side padding with which (in + pad + far - extent) / stride + 1 equals window_output_size exactly:
// the tightest, i.e. the padding the last window really reaches into (never negative, at most `pad`), so no
// work is done on padding no window needs.
int64_t window_far_padding(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation);

// One window parameter as PyTorch prints an int-or-tuple argument: "3" when both axes agree, else "(3, 2)".
std::string int_or_pair(int64_t h, int64_t w);

}  // namespace resnet
