// Conv2d as torch.nn.Conv2d: weight [out, in/groups, KH, KW] (OIHW), optional bias [out].
#pragma once

#include "core/window.h"
#include "resnet/module.h"

namespace resnet {

struct Conv2dOptions {
  int64_t in_channels = 0, out_channels = 0;
  Window window;  // kernel, stride, padding, dilation, groups (Window::square for torch's int arguments)
  bool bias = false;
};

class Conv2d : public Module {
 public:
  Conv2d(std::string path, const Conv2dOptions& options);

  // x [N,H,W,in] -> [N,OH,OW,out]; keeps x for backward in train mode.
  Tensor forward(const Tensor& x) override;
  // dy [N,OH,OW,out] -> dx [N,H,W,in]; adds into weight.grad (and bias.grad). Without an input gradient
  // (set_input_gradient(false)) returns an undefined tensor and skips the backward-data convolution.
  Tensor backward(const Tensor& dy) override;
  // Whether backward computes dx (default true). A model's first convolution needs none in training: its
  // input is the data (torch: the input does not require grad), and for resnet50 at 224² that convolution's
  // backward-data is ~4% of the step.
  void set_input_gradient(bool computes) { input_gradient_ = computes; }
  std::string extra_repr() const override;
  int64_t macs(const Shape& in, const Shape& out) const override;

  const Conv2dOptions& options() const { return options_; }
  Parameter& weight() { return *weight_; }
  Parameter* bias() { return bias_; }

 private:
  Conv2dOptions options_;
  Parameter* weight_ = nullptr;
  Parameter* bias_ = nullptr;
  Tensor saved_input_;
  bool input_gradient_ = true;
};

}  // namespace resnet
