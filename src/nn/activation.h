// ReLU, as torch.nn.ReLU(inplace=True) prints (our forward returns a new tensor; the name is torchvision's).
#pragma once

#include "nn/two_part_backward.h"
#include "resnet/module.h"

namespace resnet {

class ReLU : public Module, public TwoPartBackward {
 public:
  explicit ReLU(std::string path) : Module(std::move(path), "ReLU") {}
  // x [any] -> max(x, 0); keeps the output for backward in train mode.
  Tensor forward(const Tensor& x) override;
  // dy -> dy where the output was positive, else 0.
  Tensor backward(const Tensor& dy) override;
  std::string extra_repr() const override { return "inplace=True"; }

  // The same pair for a caller that applies this one module more than once per pass (a residual block's
  // single "relu", which torchvision calls after several stages): forward puts the output backward needs
  // into `saved_output` (undefined in eval mode) instead of keeping it, and backward takes it back.
  Tensor forward(const Tensor& x, Tensor& saved_output) const;
  Tensor backward(const Tensor& dy, Tensor saved_output) const;

  // forward(a + b) as one pass (a residual block's join; a, b same shape): keeps the output as forward does,
  // and is backward()'s partner. Adds first, then applies forward(), when a forward observer wants to see the
  // sum this ReLU receives.
  Tensor forward_sum(const Tensor& a, const Tensor& b);
  // backward(a + b) as one pass (the two parts of the next residual block's input gradient), written over a's
  // storage (ops::relu_backward_sum); b undefined: backward(a).
  Tensor backward_sum(Tensor a, Tensor b);
  // backward_sum as a TwoPartBackward (other: undefined; the input gradient is one tensor).
  Tensor backward_parts(Tensor a, Tensor b, Tensor& other) override;

 private:
  Tensor saved_output_;
};

}  // namespace resnet
