// PNG files written byte by byte, for tests that need what our encoder does not make: 16-bit samples, Adam7
// interlacing, palettes with tRNS, headers that lie. (The test executables do not link zlib: CRC-32 and
// adler-32 are computed here and the image data is stored uncompressed.)
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace resnet::test {

// PNG chunks need a CRC-32 (the test executables do not link zlib, so computed here).
inline uint32_t crc32(const std::string& bytes) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

inline std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

inline std::string png_chunk(const std::string& type, const std::string& data) {
  return be32(uint32_t(data.size())) + type + data + be32(crc32(type + data));
}

// zlib's adler-32 and a zlib stream of stored (uncompressed) deflate blocks: PNG image data written by hand.
inline uint32_t adler32(const std::string& bytes) {
  uint32_t a = 1, b = 0;
  for (unsigned char byte : bytes) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return (b << 16) | a;
}

inline std::string zlib_stored(const std::string& data) {
  std::string out = "\x78\x01";
  size_t at = 0;
  do {
    const size_t n = std::min<size_t>(data.size() - at, 65535);
    const bool last = at + n == data.size();
    out += char(last ? 1 : 0);
    out += {char(n & 0xff), char(n >> 8), char(~n & 0xff), char((~n >> 8) & 0xff)};
    out += data.substr(at, n);
    at += n;
  } while (at < data.size());
  return out + be32(adler32(data));
}

// A PNG of `samples` (row-major [height][width][channels], 1 = gray or 3 = RGB, `depth` 8 or 16 bits, 16-bit
// samples big-endian as PNG stores them), every row with filter 0; Adam7-interlaced if asked.
inline std::string png_file(const std::vector<uint16_t>& samples, int height, int width, int channels,
                            int depth, bool interlaced = false) {
  static constexpr int kAdam7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                       {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
  static constexpr int kWhole[1][4] = {{0, 0, 1, 1}};
  const auto passes = interlaced ? std::vector<const int*>{kAdam7[0], kAdam7[1], kAdam7[2], kAdam7[3],
                                                           kAdam7[4], kAdam7[5], kAdam7[6]}
                                 : std::vector<const int*>{kWhole[0]};
  std::string raw;
  for (const int* pass : passes) {
    const int x0 = pass[0], y0 = pass[1], dx = pass[2], dy = pass[3];
    if (x0 >= width || y0 >= height) continue;
    for (int y = y0; y < height; y += dy) {
      raw += '\0';
      for (int x = x0; x < width; x += dx) {
        for (int c = 0; c < channels; ++c) {
          const uint16_t v = samples[(size_t(y) * size_t(width) + size_t(x)) * size_t(channels) + size_t(c)];
          if (depth == 16) raw += char(v >> 8);
          raw += char(v & 0xff);
        }
      }
    }
  }
  const std::string ihdr =
      be32(uint32_t(width)) + be32(uint32_t(height)) +
      std::string{char(depth), char(channels == 1 ? 0 : 2), 0, 0, char(interlaced ? 1 : 0)};
  return std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) + png_chunk("IDAT", zlib_stored(raw)) +
         png_chunk("IEND", "");
}

}  // namespace resnet::test
