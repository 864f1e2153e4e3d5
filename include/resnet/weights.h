// Weight files: safetensors (read + write) and torchvision .pth (read), as StateDicts. Loading one into a
// model: resnet/load_state_dict.h.
#pragma once

#include <map>
#include <string>

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

}  // namespace resnet
