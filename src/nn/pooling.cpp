#include "nn/pooling.h"

#include <fmt/format.h>

#include "dnnl/ops.h"
#include "nn/backward.h"
#include "resnet/error.h"

namespace resnet {
namespace {

void check_nhwc(const Module& m, const Tensor& x) {
  if (x.rank() != 4)
    throw InputError(fmt::format("{}: expected input [N,H,W,C], got {}", m.path(), shape_str(x.shape())));
}

}  // namespace

MaxPool2d::MaxPool2d(std::string path, const Window& window)
    : Module(std::move(path), "MaxPool2d"), window_(window) {}

Tensor MaxPool2d::forward(const Tensor& x) {
  check_nhwc(*this, x);
  if (window_.output_h(x.dim(1)) < 1 || window_.output_w(x.dim(2)) < 1) {
    throw InputError(fmt::format("{}: input {} is too small for a {}x{} window", path(), shape_str(x.shape()),
                                 window_.kernel_h, window_.kernel_w));
  }
  Tensor y;
  if (keeps_for_backward()) {
    y = ops::maxpool2d_forward_training(x, window_, saved_workspace_);
    saved_input_shape_ = x.shape();
  } else {
    y = ops::maxpool2d_forward(x, window_);
    saved_workspace_ = Tensor();
  }
  notify_forward(x, y);
  return y;
}

// dy [N,OH,OW,C] -> dx [N,H,W,C]
Tensor MaxPool2d::backward(const Tensor& dy) {
  require_saved(*this, saved_workspace_.defined());
  const Tensor workspace = std::move(saved_workspace_);
  return ops::maxpool2d_backward(dy, workspace, saved_input_shape_, window_);
}

// PyTorch's MaxPool2d.extra_repr: each argument as given (an int when both axes agree).
std::string MaxPool2d::extra_repr() const {
  const Window& w = window_;
  return fmt::format("kernel_size={}, stride={}, padding={}, dilation={}, ceil_mode=False",
                     int_or_pair(w.kernel_h, w.kernel_w), int_or_pair(w.stride_h, w.stride_w),
                     int_or_pair(w.pad_h, w.pad_w), int_or_pair(w.dilation_h, w.dilation_w));
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(std::string path, int64_t out_h, int64_t out_w)
    : Module(std::move(path), "AdaptiveAvgPool2d"), out_h_(out_h), out_w_(out_w) {}

Tensor AdaptiveAvgPool2d::forward(const Tensor& x) {
  check_nhwc(*this, x);
  Tensor y = ops::adaptive_avgpool2d_forward(x, out_h_, out_w_);
  saved_input_shape_ = keeps_for_backward() ? x.shape() : Shape();
  notify_forward(x, y);
  return y;
}

// dy [N,out_h,out_w,C] -> dx [N,H,W,C]
Tensor AdaptiveAvgPool2d::backward(const Tensor& dy) {
  require_saved(*this, !saved_input_shape_.empty());
  const Shape x_shape = std::move(saved_input_shape_);
  saved_input_shape_.clear();
  return ops::adaptive_avgpool2d_backward(dy, x_shape);
}

std::string AdaptiveAvgPool2d::extra_repr() const {
  return fmt::format("output_size=({}, {})", out_h_, out_w_);
}

}  // namespace resnet
