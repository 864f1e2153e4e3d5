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

// Larger images are refused, from the file's header, before any pixel buffer exists: PIL's
// Image.MAX_IMAGE_PIXELS (1024^3 / 4 / 3, where PIL warns of a decompression bomb; it refuses at twice that).
// A PNG must moreover be large enough to hold its pixels compressed (deflate expands at most 1032x).
inline constexpr uint64_t kMaxImagePixels = 89'478'485;
// A progressive JPEG with more scans is refused (real files have about 10; thousands only cost time).
inline constexpr int kMaxJpegScans = 1000;

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
