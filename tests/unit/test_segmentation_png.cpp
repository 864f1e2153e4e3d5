// The pictures of `resnet segment`: the palette mask PNG decodes to the mask's classes (and the palette's
// colours), and the overlay decodes with the image untouched where the mask is background and blended where
// it is not, with a legend beside it.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "io/image.h"
#include "parsers/parser_test_util.h"
#include "resnet/segmentation_loss.h"
#include "train/segmentation_png.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;

// A 12x10 mask: background, a block of class 1 and one of class 3, one ignored pixel.
Image test_mask() {
  Image mask(12, 10, 1);
  for (int y = 2; y < 6; ++y)
    for (int x = 1; x < 5; ++x) *mask.at(y, x) = 1;
  for (int y = 7; y < 11; ++y)
    for (int x = 5; x < 9; ++x) *mask.at(y, x) = 3;
  *mask.at(0, 9) = 255;
  return mask;
}

TEST(SegmentationPng, PaletteIsVocsWithClassZeroBlack) {
  const auto& palette = segmentation_palette();
  EXPECT_EQ(palette[0], (Rgb8{0, 0, 0}));
  EXPECT_EQ(palette[1], (Rgb8{128, 0, 0}));
  EXPECT_EQ(palette[2], (Rgb8{0, 128, 0}));
  EXPECT_EQ(palette[3], (Rgb8{128, 128, 0}));
  EXPECT_EQ(palette[15], (Rgb8{192, 128, 128}));
  EXPECT_EQ(palette[255], (Rgb8{224, 224, 192}));
}

TEST(SegmentationPng, MaskPngIndicesEqualTheMask) {
  const fs::path path = test::scratch_dir() / "mask.png";
  const Image mask = test_mask();
  write_mask_png(mask, path.string());
  const Image indices = read_index_png(path.string());
  ASSERT_EQ(indices.height, 12);
  ASSERT_EQ(indices.width, 10);
  EXPECT_EQ(indices.pixels, mask.pixels);
  const Image colours = read_image(path.string(), 3);  // palette expanded
  for (size_t i = 0; i < mask.pixels.size(); ++i) {
    const Rgb8& expected = segmentation_palette()[mask.pixels[i]];
    ASSERT_EQ(colours.pixels[3 * i], expected[0]);
    ASSERT_EQ(colours.pixels[3 * i + 2], expected[2]);
  }
}

TEST(SegmentationPng, OverlayBlendsClassesOverTheImageAndAddsALegend) {
  const fs::path path = test::scratch_dir() / "overlay.png";
  Image image(12, 10, 3);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = uint8_t(40 + i % 100);
  const std::vector<std::string> names = {"background", "cat", "dog", "bird"};
  write_segmentation_overlay_png(image, test_mask(), names, path.string());
  const Image out = read_image(path.string(), 3);
  const int scale = (224 + 9) / 10;  // the shorter side (10) scaled up to >= 224
  EXPECT_GT(out.width, 10 * scale);  // the legend is on the right
  EXPECT_GE(out.height, 12 * scale);
  auto picture = [&](int y, int x) { return out.at(y * scale + scale / 2, x * scale + scale / 2); };
  EXPECT_EQ(picture(0, 0)[0], image.at(0, 0)[0]);  // background: the image itself
  EXPECT_EQ(picture(0, 0)[1], image.at(0, 0)[1]);
  EXPECT_EQ(picture(0, 9)[2], image.at(0, 9)[2]);  // ignored: not tinted either
  const uint8_t* cat = picture(3, 2);              // class 1 = (128, 0, 0) at alpha 0.5
  EXPECT_NEAR(cat[0], (image.at(3, 2)[0] + 128) / 2.0, 1.0);
  EXPECT_NEAR(cat[1], image.at(3, 2)[1] / 2.0, 1.0);
  EXPECT_THROW(write_segmentation_overlay_png(image, Image(5, 5, 1), names, path.string()), InputError);
  EXPECT_THROW(write_segmentation_overlay_png(image, test_mask(), {"background", "cat"}, path.string()),
               InputError);  // class 3 has no name
}

TEST(SegmentationPng, MaskFromLogitsTakesTheArgmax) {
  const Tensor logits = Tensor::from_vector({2, 1, 2, 3}, {0, 1, 0, 5, 0, 0, 0, 0, 9, 2, 2, 1});
  EXPECT_EQ(mask_from_logits(logits, 0).pixels, (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(mask_from_logits(logits, 1).pixels, (std::vector<uint8_t>{2, 0}));
}

}  // namespace
}  // namespace resnet
