#include "nn/linear.h"

#include <fmt/format.h>

#include "dnnl/ops.h"
#include "resnet/error.h"

namespace resnet {

Linear::Linear(std::string path, int64_t in_features, int64_t out_features, bool bias)
    : Module(std::move(path), "Linear"), in_features_(in_features), out_features_(out_features) {
  weight_ = &add_parameter("weight", Tensor({out_features, in_features}), false);
  if (bias) bias_ = &add_parameter("bias", Tensor({out_features}), true);
}

Tensor Linear::forward(const Tensor& x) {
  if (x.rank() != 2 || x.dim(1) != in_features_) {
    throw InputError(
        fmt::format("{}: expected input [N,{}], got {}", path(), in_features_, shape_str(x.shape())));
  }
  Tensor y = ops::linear_forward(x, weight_->value, bias_ ? bias_->value : Tensor());
  if (is_training()) saved_input_ = x;
  notify_forward(x, y);
  return y;
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features_, out_features_,
                     bias_ ? "True" : "False");
}

int64_t Linear::macs(const Shape& in, const Shape& /*out*/) const {
  return in[0] * in_features_ * out_features_;
}

}  // namespace resnet
