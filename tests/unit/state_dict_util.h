// Looking up a tensor of a state_dict by name, for the tests that inspect saved weights.
#pragma once

#include <string>

#include "resnet/module.h"

namespace resnet::test {

// The entry called `name`, or null.
inline const NamedTensor* find_tensor(const StateDict& tensors, const std::string& name) {
  for (const NamedTensor& t : tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

}  // namespace resnet::test
