// A module whose backward can take its output's gradient as two parts still to be summed, and give its
// input's gradient as two parts: a residual block, whose input gradient is the branch's plus the shortcut's,
// and whose first backward pass (its output ReLU's) can add the two parts it is given in the same pass
// (ops::relu_backward_sum) — one pass over the activation instead of an add and then the ReLU's backward.
// A ReLU takes two parts in that one pass too, and a Sequential hands them through its children, so the
// parts reach the ReLU that sums them across stage boundaries (ResNet's layer2 -> layer1 -> the stem's relu).
#pragma once

#include "resnet/module.h"
#include "resnet/tensor.h"

namespace resnet {

class TwoPartBackward {
 public:
  virtual ~TwoPartBackward() = default;
  // dL/d(output) = a + b (b undefined: a alone). Returns one part of dL/d(input) and puts the other part into
  // `other` (undefined when the input gradient is one tensor). Same effects as Module::backward(a + b). When
  // b is given, a's storage may be overwritten: a is a gradient the caller hands over, read by no one else.
  // Both are taken by value so that each is released once summed (an activation-sized tensor held through a
  // whole block's backward would add to the peak).
  virtual Tensor backward_parts(Tensor a, Tensor b, Tensor& other) = 0;
};

// One module's backward in a chain of modules run last to first: on entry dL/d(its output) = a + b (b may be
// undefined), on return dL/d(its input) = a + b. A TwoPartBackward module takes both parts and hands its own
// two on; any other module gets their sum (added into a: the same contract on a's storage as above).
void backward_step(Module& module, Tensor& a, Tensor& b);

// a += b when b is defined, then releases b: the one place where two parts become one gradient (the same
// contract on a's storage as above).
void sum_parts(Tensor& a, Tensor& b);

}  // namespace resnet
