#include "nn/two_part_backward.h"

#include <utility>

#include "dnnl/ops.h"

namespace resnet {

void backward_step(Module& module, Tensor& a, Tensor& b) {
  if (auto* two_part = dynamic_cast<TwoPartBackward*>(&module)) {
    Tensor other;
    a = two_part->backward_parts(std::move(a), std::move(b), other);
    b = std::move(other);
    return;
  }
  sum_parts(a, b);
  a = module.backward(a);
}

void sum_parts(Tensor& a, Tensor& b) {
  if (b.defined()) ops::add_to(a, b);
  b = Tensor();
}

}  // namespace resnet
