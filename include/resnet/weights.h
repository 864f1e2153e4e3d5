// Weight files: safetensors (read + write) and torchvision .pth (read), and loading a StateDict into a model.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "resnet/module.h"

namespace resnet {

// safetensors: 8-byte little-endian header length, JSON header {name: {dtype, shape, data_offsets}}, data.
// Reads F32, BF16, I8, U8, I64 (F64/F16/I32 are converted: F64/F16 to f32, I32 to i64). Order follows the
// file's data offsets. Throws InputError naming the file and what is wrong.
StateDict load_safetensors(const std::string& path);
// The "__metadata__" strings of a safetensors file (empty if it has none). Reads only the header.
std::map<std::string, std::string> load_safetensors_metadata(const std::string& path);
// Writes atomically (temp file + rename). metadata goes to "__metadata__".
void save_safetensors(const StateDict& tensors, const std::string& path,
                      const std::map<std::string, std::string>& metadata = {});

// torch.save(model.state_dict()) files: a zip archive with data.pkl + data/<key> storages. A restricted
// unpickler accepts only what state dicts contain and never executes code; anything else is refused with
// InputError. Also accepts a top level {"state_dict": ...} or {"model": ...}.
StateDict load_pth(const std::string& path);

// By content: safetensors or .pth (zip).
StateDict load_weights(const std::string& path);

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
