#include "io/cifar.h"

#include <fmt/format.h>

#include "io/input_file.h"
#include "resnet/error.h"

namespace resnet {
namespace {

// Appends the records of one file to `out`.
void read_cifar_file(const std::string& path, const CifarFormat& format, ImageArray& out) {
  InputFile file(path);
  const uint64_t record = uint64_t(format.label_bytes) + kCifarPixelBytes;
  if (file.size() == 0)
    throw InputError(fmt::format("{}: empty file (expected {} binary records)", path, format.name));
  if (file.size() % record != 0) {
    throw InputError(
        fmt::format("{}: truncated or not {} binary: {} bytes is not a whole number of {}-byte records "
                    "({} records and {} bytes over)",
                    path, format.name, file.size(), record, file.size() / record, file.size() % record));
  }
  std::vector<uint8_t> bytes(file.size());
  file.read(0, bytes.data(), bytes.size());

  const int64_t count = static_cast<int64_t>(file.size() / record);
  const size_t first = out.pixels.size();
  out.pixels.resize(first + size_t(count) * kCifarPixelBytes);
  out.labels.reserve(out.labels.size() + size_t(count));
  constexpr int plane = kCifarSide * kCifarSide;
  for (int64_t r = 0; r < count; ++r) {
    const uint8_t* rec = bytes.data() + uint64_t(r) * record;
    const int label = rec[format.label_index];
    if (label >= format.num_classes) {
      throw InputError(fmt::format("{}: record {} has label {}, out of range for {} ({} classes)", path, r,
                                   label, format.name, format.num_classes));
    }
    out.labels.push_back(label);
    const uint8_t* planes = rec + format.label_bytes;  // [3, 32, 32] -> [32, 32, 3]
    uint8_t* dst = out.pixels.data() + first + size_t(r) * kCifarPixelBytes;
    for (int p = 0; p < plane; ++p) {
      for (int c = 0; c < 3; ++c) dst[3 * p + c] = planes[c * plane + p];
    }
  }
  out.count += count;
}

}  // namespace

ImageArray read_cifar(const std::vector<std::string>& paths, const CifarFormat& format) {
  ImageArray out;
  out.height = out.width = kCifarSide;
  out.channels = 3;
  for (const std::string& path : paths) read_cifar_file(path, format, out);
  return out;
}

}  // namespace resnet
