// ModuleList (torch.nn.ModuleList): children named "0", "1", ... that its owner runs itself; it has no
// forward.
#pragma once

#include <string>

#include "resnet/error.h"
#include "resnet/module.h"

namespace resnet {

class ModuleList : public Module {
 public:
  explicit ModuleList(std::string path) : Module(std::move(path), "ModuleList") {}

  template <class M, class... Args>
  M& append(Args&&... args) {
    return add_child<M>(std::to_string(children().size()), std::forward<Args>(args)...);
  }
  Tensor forward(const Tensor&) override {
    throw InternalError(path() + " (ModuleList): has no forward; its owner runs the children");
  }
};

}  // namespace resnet
