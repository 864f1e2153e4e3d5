// Identity (torch.nn.Identity): the placeholder smp's U-Net keeps where an optional part is off (the
// decoder's center, attention, the head's upsampling and activation), so that print(model) shows it.
#pragma once

#include "resnet/module.h"

namespace resnet {

class Identity : public Module {
 public:
  explicit Identity(std::string path) : Module(std::move(path), "Identity") {}
  // x -> x (the same tensor, no copy)
  Tensor forward(const Tensor& x) override {
    notify_forward(x, x);
    return x;
  }
  // dy -> dy
  Tensor backward(const Tensor& dy) override { return dy; }
};

// A parameter-free wrapper that prints as `type_name` with one child `child_name` = Identity (smp's
// Attention(None) and Activation(None)); forward and backward pass through.
class IdentityWrapper : public Module {
 public:
  IdentityWrapper(std::string path, std::string type_name, const std::string& child_name)
      : Module(std::move(path), std::move(type_name)), inner_(add_child<Identity>(child_name)) {}
  Tensor forward(const Tensor& x) override { return inner_.forward(x); }
  Tensor backward(const Tensor& dy) override { return inner_.backward(dy); }

 private:
  Identity& inner_;
};

}  // namespace resnet
