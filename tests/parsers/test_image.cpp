// JPEG and PNG decoding (libjpeg-turbo, libpng) on files encoded here: round trips for every channel layout,
// PIL's channel conversions, and broken files rejected with the file name and the reason, never a crash.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "io/image.h"
#include "parsers/parser_test_util.h"
#include "parsers/png_bytes.h"
#include "resnet/error.h"

namespace resnet {
namespace {

using test::be32;
using test::expect_input_error;
using test::png_chunk;
using test::png_file;
using test::scratch_dir;
using test::write_bytes;
using test::zlib_stored;
namespace fs = std::filesystem;

// A smooth image (JPEG keeps it well) with a different pattern in each channel.
Image gradient(int height, int width, int channels) {
  Image image(height, width, channels);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < channels; ++c)
        image.at(y, x)[c] = static_cast<uint8_t>((x * 2 + y * 3 + c * 40) % 256);
  return image;
}

std::vector<uint16_t> to_samples(const Image& image) {
  return std::vector<uint16_t>(image.pixels.begin(), image.pixels.end());
}

TEST(Image, PngRoundTripsEveryChannelLayout) {
  const fs::path dir = scratch_dir();
  for (int channels = 1; channels <= 4; ++channels) {
    const Image image = gradient(13, 17, channels);
    const fs::path path = dir / ("c" + std::to_string(channels) + ".png");
    write_bytes(path, encode_png(image));
    const Image decoded = read_image(path.string());
    EXPECT_EQ(decoded.height, 13);
    EXPECT_EQ(decoded.width, 17);
    EXPECT_EQ(decoded.channels, channels);
    EXPECT_EQ(decoded.pixels, image.pixels) << channels << " channels";
  }
}

TEST(Image, JpegRoundTripsCloselyInRgbAndGray) {
  const fs::path dir = scratch_dir();
  for (int channels : {1, 3}) {
    const Image image = gradient(24, 40, channels);
    const fs::path path = dir / ("c" + std::to_string(channels) + ".jpg");
    write_bytes(path, encode_jpeg(image, 95));
    const Image decoded = read_image(path.string());
    ASSERT_EQ(decoded.channels, channels);
    ASSERT_EQ(decoded.pixels.size(), image.pixels.size());
    double error = 0;
    for (size_t i = 0; i < image.pixels.size(); ++i)
      error += std::abs(int(decoded.pixels[i]) - int(image.pixels[i]));
    EXPECT_LT(error / double(image.pixels.size()), 4.0) << channels << " channels";
  }
}

TEST(Image, ConvertsChannelsAsPil) {
  Image rgba(1, 5, 4);
  const uint8_t values[5][4] = {
      {255, 0, 0, 9}, {0, 255, 0, 9}, {0, 0, 255, 9}, {255, 255, 255, 0}, {10, 20, 30, 200}};
  for (int x = 0; x < 5; ++x) std::copy(values[x], values[x] + 4, rgba.at(0, x));
  // PIL: Image.new("RGB", ...) with these colours, .convert("L")
  EXPECT_EQ(convert_channels(rgba, 1).pixels, (std::vector<uint8_t>{76, 150, 29, 255, 18}));
  EXPECT_EQ(convert_channels(rgba, 3).pixels,
            (std::vector<uint8_t>{255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 10, 20, 30}));
  Image gray_alpha(1, 2, 2);
  gray_alpha.pixels = {7, 100, 200, 0};
  EXPECT_EQ(convert_channels(gray_alpha, 3).pixels, (std::vector<uint8_t>{7, 7, 7, 200, 200, 200}));
  EXPECT_EQ(convert_channels(gray_alpha, 1).pixels, (std::vector<uint8_t>{7, 200}));
  EXPECT_THROW(convert_channels(gray_alpha, 4), InputError);
}

TEST(Image, ReadImageConvertsToTheRequestedChannels) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "rgba.png", encode_png(gradient(4, 6, 4)));
  const Image rgb = read_image((dir / "rgba.png").string(), 3);
  EXPECT_EQ(rgb.channels, 3);
  EXPECT_EQ(rgb.at(2, 3)[1], gradient(4, 6, 4).at(2, 3)[1]);
  write_bytes(dir / "gray.png", encode_png(gradient(4, 6, 1)));
  const Image replicated = read_image((dir / "gray.png").string(), 3);
  EXPECT_EQ(replicated.channels, 3);
  EXPECT_EQ(replicated.at(1, 1)[2], gradient(4, 6, 1).at(1, 1)[0]);
}

TEST(Image, RecognisesTheFormatByContentNotName) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "actually_png.jpg", encode_png(gradient(3, 3, 3)));
  EXPECT_EQ(read_image((dir / "actually_png.jpg").string()).pixels, gradient(3, 3, 3).pixels);
}

TEST(Image, RejectsTruncatedPng) {
  const fs::path dir = scratch_dir();
  const std::string png = encode_png(gradient(40, 40, 3));
  for (size_t keep : {size_t(8), size_t(20), size_t(40), png.size() / 2, png.size() - 13}) {
    write_bytes(dir / "cut.png", png.substr(0, keep));
    expect_input_error([&] { read_image((dir / "cut.png").string()); }, {(dir / "cut.png").string(), "PNG"});
  }
}

TEST(Image, RejectsPngWithBadChecksum) {
  const fs::path dir = scratch_dir();
  std::string png = encode_png(gradient(8, 8, 3));
  png[20] ^= 0x01;  // inside IHDR's data (bytes 16..28)
  write_bytes(dir / "crc.png", png);
  expect_input_error([&] { read_image((dir / "crc.png").string()); },
                     {(dir / "crc.png").string(), "PNG", "CRC"});
}

TEST(Image, RejectsOversizedDimensionsBeforeAllocating) {
  const fs::path dir = scratch_dir();
  // IHDR: 70000 x 70000, 8-bit RGB; then an empty IDAT and IEND.
  const std::string ihdr = be32(70000) + be32(70000) + std::string{8, 2, 0, 0, 0};
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) +
                          png_chunk("IDAT", "") + png_chunk("IEND", "");
  write_bytes(dir / "huge.png", png);
  expect_input_error([&] { read_image((dir / "huge.png").string()); },
                     {(dir / "huge.png").string(), "70000x70000", "limit"});
}

// The case: a header claiming 100000 x 100000 pixels (30 GB of RGB) is refused from the header alone.
TEST(Image, RejectsA100000By100000PngHeaderBeforeAllocating) {
  const fs::path dir = scratch_dir();
  const std::string ihdr = be32(100000) + be32(100000) + std::string{8, 2, 0, 0, 0};
  write_bytes(dir / "bomb.png", std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) +
                                    png_chunk("IDAT", zlib_stored(std::string(301, '\0'))) +
                                    png_chunk("IEND", ""));
  expect_input_error([&] { read_image((dir / "bomb.png").string()); },
                     {(dir / "bomb.png").string(), "100000x100000", "limit"});
}

// 16-bit samples keep their high byte (PIL does so for 16-bit RGB; see docs/CLI.md for 16-bit gray).
TEST(Image, SixteenBitPngKeepsTheHighByte) {
  const fs::path dir = scratch_dir();
  for (int channels : {1, 3}) {
    const Image image = gradient(9, 11, channels);
    std::vector<uint16_t> wide = to_samples(image);
    for (size_t i = 0; i < wide.size(); ++i) wide[i] = uint16_t(wide[i] * 256 + (i * 37) % 256);
    const fs::path path = dir / ("wide" + std::to_string(channels) + ".png");
    write_bytes(path, png_file(wide, 9, 11, channels, 16));
    const Image decoded = read_image(path.string());
    ASSERT_EQ(decoded.channels, channels);
    EXPECT_EQ(decoded.pixels, image.pixels) << channels << " channels";
  }
}

TEST(Image, InterlacedPngDecodesAsThePlainOne) {
  const fs::path dir = scratch_dir();
  for (int channels : {1, 3}) {
    for (int depth : {8, 16}) {
      const Image image = gradient(13, 10, channels);  // partial Adam7 blocks at both edges
      std::vector<uint16_t> samples = to_samples(image);
      if (depth == 16)
        for (uint16_t& v : samples) v = uint16_t(v * 257);
      write_bytes(dir / "adam7.png", png_file(samples, 13, 10, channels, depth, true));
      EXPECT_EQ(read_image((dir / "adam7.png").string()).pixels, image.pixels) << channels << "/" << depth;
    }
  }
}

// PLTE + tRNS: the palette expands to RGB plus alpha; convert("RGB") then drops the alpha (not composited).
TEST(Image, PalettePngWithTransparencyExpandsAndDropsAlphaForRgb) {
  const fs::path dir = scratch_dir();
  const std::string ihdr = be32(3) + be32(1) + std::string{8, 3, 0, 0, 0};
  const std::string palette = {char(200), 10, 20, 30, char(250), 40, 0, 0, char(255)};
  const std::string trns = {0, char(128)};  // entry 0 transparent, 1 half, 2 opaque (absent: 255)
  const std::string raw = {0, 0, 1, 2};
  write_bytes(dir / "p.png", std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) +
                                 png_chunk("PLTE", palette) + png_chunk("tRNS", trns) +
                                 png_chunk("IDAT", zlib_stored(raw)) + png_chunk("IEND", ""));
  const Image rgba = read_image((dir / "p.png").string());
  ASSERT_EQ(rgba.channels, 4);
  EXPECT_EQ(rgba.pixels, (std::vector<uint8_t>{200, 10, 20, 0, 30, 250, 40, 128, 0, 0, 255, 255}));
  EXPECT_EQ(read_image((dir / "p.png").string(), 3).pixels,
            (std::vector<uint8_t>{200, 10, 20, 30, 250, 40, 0, 0, 255}));
}

TEST(Image, RejectsTruncatedJpeg) {
  const fs::path dir = scratch_dir();
  const std::string jpeg = encode_jpeg(gradient(64, 64, 3), 90);
  for (size_t keep : {size_t(3), size_t(100), jpeg.size() / 2, jpeg.size() - 10}) {
    write_bytes(dir / "cut.jpg", jpeg.substr(0, keep));
    expect_input_error([&] { read_image((dir / "cut.jpg").string()); }, {(dir / "cut.jpg").string(), "JPEG"});
  }
  write_bytes(dir / "half.jpg", jpeg.substr(0, jpeg.size() / 2));
  expect_input_error([&] { read_image((dir / "half.jpg").string()); }, "Premature end of JPEG file");
}

TEST(Image, RejectsCorruptJpeg) {
  const fs::path dir = scratch_dir();
  std::string jpeg = encode_jpeg(gradient(32, 32, 3), 90);
  for (size_t i = 3; i < 40; ++i) jpeg[i] = char(0x5a);
  write_bytes(dir / "garbled.jpg", jpeg);
  expect_input_error([&] { read_image((dir / "garbled.jpg").string()); },
                     {(dir / "garbled.jpg").string(), "JPEG"});
}

TEST(Image, RejectsFilesThatAreNotImages) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "notes.png", "hello, world");
  expect_input_error([&] { read_image((dir / "notes.png").string()); },
                     {(dir / "notes.png").string(), "not a JPEG or PNG", "68 65 6c 6c"});
  write_bytes(dir / "empty.jpg", "");
  expect_input_error([&] { read_image((dir / "empty.jpg").string()); },
                     {(dir / "empty.jpg").string(), "empty"});
  expect_input_error([&] { read_image((dir / "absent.jpg").string()); },
                     {(dir / "absent.jpg").string(), "cannot open"});
}

}  // namespace
}  // namespace resnet
