#include "nn/sequential.h"

#include "dnnl/ops.h"
#include "nn/two_part_backward.h"

namespace resnet {

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (Module* child : children()) y = child->forward(y);
  return y;
}

// dL/d(output of the current child) = d + pending: a residual block's input gradient stays in its two parts
// while the child before it is a residual block too, which adds them in its own first pass.
Tensor Sequential::backward(const Tensor& dy) {
  Tensor d = dy, pending;
  for (auto it = children().rbegin(); it != children().rend(); ++it) {
    if (auto* two_part = dynamic_cast<TwoPartBackward*>(*it)) {
      Tensor other;
      d = two_part->backward_parts(std::move(d), pending, other);
      pending = std::move(other);
      continue;
    }
    if (pending.defined()) ops::add_to(d, pending);
    pending = Tensor();
    d = (*it)->backward(d);
  }
  if (pending.defined()) ops::add_to(d, pending);
  return d;
}

}  // namespace resnet
