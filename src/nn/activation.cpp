#include "nn/activation.h"

#include "dnnl/ops.h"
#include "nn/backward.h"

namespace resnet {

Tensor ReLU::forward(const Tensor& x) {
  Tensor y = ops::relu_forward(x);
  saved_output_ = keeps_for_backward() ? y : Tensor();
  notify_forward(x, y);
  return y;
}

Tensor ReLU::backward(const Tensor& dy) {
  require_saved(*this, saved_output_.defined());
  const Tensor y = std::move(saved_output_);
  return ops::relu_backward(dy, y);
}

}  // namespace resnet
