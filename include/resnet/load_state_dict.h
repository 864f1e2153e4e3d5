// Loading a StateDict (from resnet/weights.h, or another model's state_dict()) into a model's parameters and
// buffers, as torch's module.load_state_dict(state_dict, strict).
#pragma once

#include <string>
#include <vector>

#include "resnet/module.h"

namespace resnet {

struct LoadReport {
  std::vector<std::string> missing;     // in the model, not in the file
  std::vector<std::string> unexpected;  // in the file, not in the model
  std::vector<std::string> mismatched;  // "layer1.0.conv1.weight: expected [64,64,3,3], file has [64,32,3,3]"
  bool clean() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string describe() const;  // one line per problem
};
// Copies matching entries into the model's parameters and buffers (converting dtype where lossless:
// bf16->f32, i64 num_batches_tracked). strict: throws InputError listing every problem (source names the
// file). Non-strict: loads what matches and returns the report.
LoadReport load_state_dict(Module& model, const StateDict& tensors, bool strict,
                           const std::string& source = "");

}  // namespace resnet
