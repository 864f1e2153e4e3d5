#include "nn/linear.h"

#include <fmt/format.h>

#include "dnnl/ops.h"
#include "nn/backward.h"
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
  saved_input_ = keeps_for_backward() ? x : Tensor();
  notify_forward(x, y);
  return y;
}

// dy [N,out] -> dx [N,in]
Tensor Linear::backward(const Tensor& dy) {
  require_saved(*this, saved_input_.defined());
  const Tensor x = std::move(saved_input_);
  ops::linear_backward_weights(x, dy, grad_to_accumulate(*weight_),
                               bias_ ? &grad_to_accumulate(*bias_) : nullptr);
  notify_gradients_ready();
  return ops::linear_backward_data(dy, weight_->value);
}

std::string Linear::extra_repr() const {
  return fmt::format("in_features={}, out_features={}, bias={}", in_features_, out_features_,
                     bias_ ? "True" : "False");
}

int64_t Linear::macs(const Shape& in, const Shape& /*out*/) const {
  return in[0] * in_features_ * out_features_;
}

}  // namespace resnet
