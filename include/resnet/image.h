// Decoded 8-bit images: one image (JPEG/PNG files) and arrays of equally sized labelled images (IDX, CIFAR).
// Datasets and transforms over them: resnet/data.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace resnet {

// An 8-bit image, row-major [height, width, channels]; channels 1 (gray), 2 (gray + alpha), 3 (RGB), 4
// (RGBA).
struct Image {
  int height = 0;
  int width = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;

  Image() = default;
  Image(int h, int w, int c) : height(h), width(w), channels(c), pixels(size_t(h) * size_t(w) * size_t(c)) {}
  uint8_t* at(int y, int x) {
    return pixels.data() + (size_t(y) * size_t(width) + size_t(x)) * size_t(channels);
  }
  const uint8_t* at(int y, int x) const {
    return pixels.data() + (size_t(y) * size_t(width) + size_t(x)) * size_t(channels);
  }
};

// Decodes a JPEG or PNG file (recognised by its first bytes, not its name). channels = 0 keeps the file's
// channels; 1 or 3 converts as PIL's Image.convert("L" / "RGB") does (alpha dropped, gray replicated, ITU-R
// 601 luma).
Image read_image(const std::string& path, int channels = 0);
// Channel conversion as PIL's convert("L") (channels = 1) and convert("RGB") (channels = 3).
Image convert_channels(const Image& image, int channels);

// Decoded images held in memory, as the IDX and CIFAR readers produce them.
struct ImageArray {
  int64_t count = 0;
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> pixels;  // [count, height, width, channels]
  std::vector<int64_t> labels;  // [count]
};

}  // namespace resnet
