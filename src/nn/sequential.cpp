#include "nn/sequential.h"

namespace resnet {

Tensor Sequential::forward(const Tensor& x) {
  Tensor y = x;
  for (Module* child : children()) y = child->forward(y);
  return y;
}

Tensor Sequential::backward(const Tensor& dy) {
  Tensor d = dy;
  for (auto it = children().rbegin(); it != children().rend(); ++it) d = (*it)->backward(d);
  return d;
}

}  // namespace resnet
