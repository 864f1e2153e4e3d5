// JPEG (libjpeg-turbo) and PNG (libpng) decoding and encoding of 8-bit images.
//
// Decoding keeps the file's channels: gray (1), gray + alpha (2), RGB (3), RGBA (4). PNG palettes and tRNS
// expand to RGB(A), 1/2/4-bit gray to 8-bit, 16-bit samples keep their high byte (as PIL). CMYK JPEGs become
// RGB as PIL converts them (read as Adobe's inverted CMYK). A truncated file is an error, as in PIL (not a
// partly gray image).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "resnet/image.h"

namespace resnet {

// Larger images are refused (PIL's decompression-bomb limit is of the same order).
inline constexpr uint64_t kMaxImagePixels = uint64_t(1) << 28;

// `name` is the file path for messages: InputError "<name>: PNG: <what>" / "<name>: JPEG: <what>".
Image decode_image(const uint8_t* data, size_t size, const std::string& name);

// A segmentation mask's class indices, one channel: a palette PNG's palette indices (not its colours), or
// an 8-bit (or 1/2/4-bit, widened) gray PNG's values. Any other PNG (RGB, gray + alpha, 16 bits) or a
// non-PNG file is an InputError naming `name` / `path`.
Image decode_index_png(const uint8_t* data, size_t size, const std::string& name);
Image read_index_png(const std::string& path);

// The encoded file's bytes. PNG: any of 1-4 channels; JPEG: 1 or 3 channels, quality 1..100.
std::string encode_png(const Image& image);
std::string encode_jpeg(const Image& image, int quality = 90);
// A palette PNG whose pixel values are `indices` (one channel) and whose palette is `palette` (1..256
// colours; every index must be below palette.size()).
std::string encode_palette_png(const Image& indices, std::span<const std::array<uint8_t, 3>> palette);

}  // namespace resnet
