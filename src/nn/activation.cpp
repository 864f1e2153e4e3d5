#include "nn/activation.h"

#include "dnnl/ops.h"

namespace resnet {

Tensor ReLU::forward(const Tensor& x) {
  Tensor y = ops::relu_forward(x);
  if (is_training()) saved_output_ = y;
  notify_forward(x, y);
  return y;
}

}  // namespace resnet
