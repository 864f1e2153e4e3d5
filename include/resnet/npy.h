// NumPy .npy files (format 1.0/2.0/3.0): little-endian float32 ('<f4'), C order, read and write.
#pragma once

#include <string>

#include "resnet/tensor.h"

namespace resnet {

// Reads a C-order float32 array (also accepts '<f8', converted to f32). Throws InputError with the file and
// reason.
Tensor load_npy(const std::string& path);
// Writes a float32 tensor atomically (temp file + rename), with its shape as given.
void save_npy(const Tensor& tensor, const std::string& path);

}  // namespace resnet
