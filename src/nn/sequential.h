// Sequential: children named "0", "1", ... run in order (torch.nn.Sequential).
#pragma once

#include "nn/two_part_backward.h"
#include "resnet/module.h"

namespace resnet {

class Sequential : public Module, public TwoPartBackward {
 public:
  explicit Sequential(std::string path) : Module(std::move(path), "Sequential") {}
  // A torch.nn.Sequential subclass prints under its own class name (smp's Conv2dReLU, SegmentationHead).
  Sequential(std::string path, std::string type_name) : Module(std::move(path), std::move(type_name)) {}

  template <class M, class... Args>
  M& append(Args&&... args) {
    return add_child<M>(std::to_string(children().size()), std::forward<Args>(args)...);
  }
  Tensor forward(const Tensor& x) override;
  Tensor backward(const Tensor& dy) override;
  // The children's backward, last to first, with two-part gradients handed between them (backward_step).
  Tensor backward_parts(Tensor a, Tensor b, Tensor& other) override;
};

}  // namespace resnet
