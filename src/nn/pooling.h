// MaxPool2d (floor mode, -inf padding) and AdaptiveAvgPool2d, as torch.nn.
#pragma once

#include "resnet/module.h"

namespace resnet {

class MaxPool2d : public Module {
 public:
  MaxPool2d(std::string path, int64_t kernel, int64_t stride, int64_t padding);
  // x [N,H,W,C] -> [N,OH,OW,C]
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  int64_t kernel_, stride_, padding_;
  Tensor saved_input_;
};

class AdaptiveAvgPool2d : public Module {
 public:
  AdaptiveAvgPool2d(std::string path, int64_t out_h, int64_t out_w);
  // x [N,H,W,C] -> [N,out_h,out_w,C]
  Tensor forward(const Tensor& x) override;
  std::string extra_repr() const override;

 private:
  int64_t out_h_, out_w_;
  Shape saved_input_shape_;
};

}  // namespace resnet
