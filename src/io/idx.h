// IDX files (the MNIST / Fashion-MNIST format), plain or gzipped.
//
// Layout: 2 zero bytes, a type byte (0x08 = unsigned byte, the only one these datasets use), a byte with the
// number of dimensions d, d big-endian uint32 sizes, then the elements in row-major order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "resnet/image.h"

namespace resnet {

// The whole file; gunzipped when it starts with the gzip magic 1f 8b (whatever its name says).
// InputError "<path>: gzip: <what>" for a corrupt or truncated stream.
std::vector<uint8_t> read_file_gunzip(const std::string& path);

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // shape_numel(dims) bytes
};

// `bytes` is the (gunzipped) file content; `name` is the path for messages.
IdxArray parse_idx(std::vector<uint8_t> bytes, const std::string& name);
// A whole file's bytes, plain or gzipped (by content). Gzipped, the data is inflated only as far as the
// header says, and a header claiming more than the compressed file can hold is refused before that.
IdxArray parse_idx_file(std::vector<uint8_t> file, const std::string& name);
IdxArray read_idx(const std::string& path);

// An images file [N, rows, cols] and its labels file [N] (each label < num_classes) as N gray images.
ImageArray read_idx_dataset(const std::string& images_path, const std::string& labels_path, int num_classes);

}  // namespace resnet
