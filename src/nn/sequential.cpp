#include "nn/sequential.h"

#include "nn/two_part_backward.h"

namespace resnet {

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (Module* child : children()) y = child->forward(y);
  return y;
}

// dL/d(output of the current child) = d + pending: a residual block's input gradient stays in its two parts
// while the child before it takes two parts too (a residual block or a ReLU, which add them in their own
// first pass), and leaves this Sequential in two parts when its first child gives two.
Tensor Sequential::backward_parts(Tensor a, Tensor b, Tensor& other) {
  Tensor d = std::move(a), pending = std::move(b);
  for (auto it = children().rbegin(); it != children().rend(); ++it) backward_step(**it, d, pending);
  other = std::move(pending);
  return d;
}

Tensor Sequential::backward(const Tensor& dy) {
  Tensor other;
  Tensor d = backward_parts(dy, Tensor(), other);
  sum_parts(d, other);
  return d;
}

}  // namespace resnet
