// Conv2d as torch.nn.Conv2d: weight [out, in/groups, KH, KW] (OIHW), optional bias [out].
#pragma once

#include "dnnl/ops.h"
#include "resnet/module.h"

namespace resnet {

struct Conv2dOptions {
  int64_t in_channels = 0, out_channels = 0;
  int64_t kernel = 1, stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = false;
};

class Conv2d : public Module {
 public:
  Conv2d(std::string path, const Conv2dOptions& options);

  // x [N,H,W,in] -> [N,OH,OW,out]; keeps x for backward in train mode.
  Tensor forward(const Tensor& x) override;
  // dy [N,OH,OW,out] -> dx [N,H,W,in]; adds into weight.grad (and bias.grad).
  Tensor backward(const Tensor& dy) override;
  std::string extra_repr() const override;
  int64_t macs(const Shape& in, const Shape& out) const override;

  const Conv2dOptions& options() const { return options_; }
  ops::Conv2dSpec spec() const;
  Parameter& weight() { return *weight_; }
  Parameter* bias() { return bias_; }

 private:
  Conv2dOptions options_;
  Parameter* weight_ = nullptr;
  Parameter* bias_ = nullptr;
  Tensor saved_input_;
};

}  // namespace resnet
