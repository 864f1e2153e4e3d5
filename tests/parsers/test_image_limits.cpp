// The image decoders' limits: a header claiming more pixels than the limit, or more than its file can hold,
// is refused from the header, before any pixel buffer is allocated (docs/RELIABILITY.md, "Formats and
// limits").
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "io/image.h"
#include "parsers/parser_test_util.h"
#include "parsers/png_bytes.h"
#include "resnet/error.h"

namespace resnet {
namespace {

using test::be32;
using test::expect_input_error;
using test::png_chunk;
using test::scratch_dir;
using test::write_bytes;
namespace fs = std::filesystem;

// The 69-byte PNG declaring 16384 x 16384 RGBA (1 GiB of pixels) is refused by the pixel limit.
TEST(Image, RejectsThe69BytePngOf16384By16384RgbaFromItsHeader) {
  const fs::path dir = scratch_dir();
  const std::string ihdr = be32(16384) + be32(16384) + std::string{8, 6, 0, 0, 0};
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) +
                          png_chunk("IDAT", std::string(12, '\0')) + png_chunk("IEND", "");
  ASSERT_EQ(png.size(), 69u);
  write_bytes(dir / "bomb.png", png);
  expect_input_error([&] { read_image((dir / "bomb.png").string()); },
                     {(dir / "bomb.png").string(), "16384x16384", "limit of 89478485 pixels"});
}

// Under the pixel limit, but a file of 57 bytes cannot hold 8000 x 8000 RGBA pixels even compressed.
TEST(Image, RejectsAPngTooSmallToHoldTheImageItsHeaderClaims) {
  const fs::path dir = scratch_dir();
  const std::string ihdr = be32(8000) + be32(8000) + std::string{8, 6, 0, 0, 0};
  write_bytes(dir / "small.png", std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) +
                                     png_chunk("IDAT", "") + png_chunk("IEND", ""));
  expect_input_error([&] { read_image((dir / "small.png").string()); },
                     {(dir / "small.png").string(), "8000x8000 pixels of 32 bits need 256000000 bytes",
                      "more than a file of 57 bytes can hold"});
}

// A JPEG whose frame header claims 20000 x 20000 pixels is refused before libjpeg allocates for it.
TEST(Image, RejectsAJpegHeaderOverThePixelLimit) {
  const fs::path dir = scratch_dir();
  std::string jpeg = encode_jpeg(Image(8, 8, 3));
  const size_t sof = jpeg.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  for (size_t i : {sof + 5, sof + 7}) {  // height, width: 20000 = 0x4e20, big-endian
    jpeg[i] = '\x4e';
    jpeg[i + 1] = '\x20';
  }
  write_bytes(dir / "huge.jpg", jpeg);
  expect_input_error([&] { read_image((dir / "huge.jpg").string()); },
                     {(dir / "huge.jpg").string(), "JPEG", "20000x20000", "limit"});
}

}  // namespace
}  // namespace resnet
