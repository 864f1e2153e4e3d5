// A module whose backward can take its output's gradient as two parts still to be summed, and give its
// input's gradient as two parts: a residual block, whose input gradient is the branch's plus the shortcut's,
// and whose first backward pass (its output ReLU's) can add the two parts it is given in the same pass
// (ops::relu_backward_sum) — one pass over the activation instead of an add and then the ReLU's backward.
// Sequential::backward hands the parts from one such module to the one before it.
#pragma once

#include "resnet/tensor.h"

namespace resnet {

class TwoPartBackward {
 public:
  virtual ~TwoPartBackward() = default;
  // dL/d(output) = a + b (b undefined: a alone). Returns one part of dL/d(input) and puts the other part into
  // `other` (undefined when the input gradient is one tensor). Same effects as Module::backward(a + b). When
  // b is given, a's storage may be overwritten: a is a gradient the caller hands over, read by no one else.
  virtual Tensor backward_parts(Tensor a, const Tensor& b, Tensor& other) = 0;
};

}  // namespace resnet
