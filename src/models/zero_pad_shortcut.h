// The parameter-free shortcut of He et al. 2015 §4.2 ("option A"): keep every stride-th pixel and zero-pad
// the new channels, half before and half after the input's (as the widely used CIFAR implementation does with
// F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))).
#pragma once

#include "core/window.h"
#include "resnet/module.h"

namespace resnet {

class ZeroPadShortcut : public Module {
 public:
  ZeroPadShortcut(std::string path, int64_t in_channels, int64_t out_channels, int64_t stride);

  // x [N,H,W,in] -> [N,ceil(H/stride),ceil(W/stride),out]; channel c of x lands at c + pad_before.
  Tensor forward(const Tensor& x) override;
  // dy [N,OH,OW,out] -> dx [N,H,W,in]: the middle channels scattered back to the kept pixels, zeros
  // elsewhere.
  Tensor backward(const Tensor& dy) override;
  std::string extra_repr() const override;
  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  int64_t stride() const { return stride_; }
  // The pixels kept are those a 1x1 window of this stride visits.
  Window window() const { return Window::square(1, stride_); }
  int64_t pad_before() const { return pad_before_; }  // output channel of input channel 0

 private:
  int64_t in_channels_, out_channels_, stride_, pad_before_;
  Shape input_shape_;
};

}  // namespace resnet
