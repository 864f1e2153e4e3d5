// Linear as torch.nn.Linear: weight [out, in], bias [out].
#pragma once

#include "resnet/module.h"

namespace resnet {

class Linear : public Module {
 public:
  Linear(std::string path, int64_t in_features, int64_t out_features, bool bias = true);
  // x [N, in] -> [N, out]
  Tensor forward(const Tensor& x) override;
  // dy [N, out] -> dx [N, in]; adds into weight.grad (and bias.grad).
  Tensor backward(const Tensor& dy) override;
  std::string extra_repr() const override;
  int64_t macs(const Shape& in, const Shape& out) const override;

  int64_t in_features() const { return in_features_; }
  Parameter& weight() { return *weight_; }
  Parameter* bias() { return bias_; }

 private:
  int64_t in_features_, out_features_;
  Parameter* weight_;
  Parameter* bias_ = nullptr;
  Tensor saved_input_;
};

}  // namespace resnet
