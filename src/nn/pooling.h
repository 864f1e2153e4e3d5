// MaxPool2d (floor mode, -inf padding) and AdaptiveAvgPool2d, as torch.nn.
#pragma once

#include "core/window.h"
#include "resnet/module.h"

namespace resnet {

class MaxPool2d : public Module {
 public:
  // torch.nn.MaxPool2d(kernel_size, stride, padding) is MaxPool2d(path, Window::square(kernel, stride,
  // padding)); the window is dense (dilation 1, groups 1).
  MaxPool2d(std::string path, const Window& window);
  // x [N,H,W,C] -> [N,OH,OW,C]; in train mode keeps where the maxima were (oneDNN's workspace).
  Tensor forward(const Tensor& x) override;
  // dy [N,OH,OW,C] -> dx [N,H,W,C]: each gradient goes to its window's maximum.
  Tensor backward(const Tensor& dy) override;
  std::string extra_repr() const override;
  const Window& window() const { return window_; }

 private:
  Window window_;
  Tensor saved_workspace_;
  Shape saved_input_shape_;
};

class AdaptiveAvgPool2d : public Module {
 public:
  AdaptiveAvgPool2d(std::string path, int64_t out_h, int64_t out_w);
  // x [N,H,W,C] -> [N,out_h,out_w,C]
  Tensor forward(const Tensor& x) override;
  // dy [N,out_h,out_w,C] -> dx [N,H,W,C]: each gradient spread evenly over its bin.
  Tensor backward(const Tensor& dy) override;
  std::string extra_repr() const override;
  int64_t out_h() const { return out_h_; }
  int64_t out_w() const { return out_w_; }

 private:
  int64_t out_h_, out_w_;
  Shape saved_input_shape_;
};

}  // namespace resnet
