// Segmentation data: fashion-mnist-scenes' recipe and determinism, folder-seg (gray and palette masks, class
// names, errors naming the file), the joint augmentation, the loader, and `resnet dataset export` read back
// by folder-seg.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "io/image.h"
#include "parsers/parser_test_util.h"
#include "parsers/png_bytes.h"
#include "resnet/error.h"
#include "resnet/segmentation_data.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;

using test::scratch_dir;

bool have_fashion_mnist() {
  return fs::is_directory(default_data_dir("fashion-mnist"));
}

#define SKIP_WITHOUT_FASHION_MNIST()                                                 \
  do {                                                                               \
    if (!have_fashion_mnist())                                                       \
      GTEST_SKIP() << "Fashion-MNIST is missing (scripts/bootstrap.sh installs it)"; \
  } while (0)

// Items for scenes: `count` 28x28 gray images; item i is value[i] where the pattern is 1, else 0.
ImageArray square_items(const std::vector<uint8_t>& values, const std::vector<int64_t>& labels) {
  ImageArray items;
  items.count = int64_t(values.size());
  items.height = items.width = 28;
  items.channels = 1;
  for (size_t i = 0; i < values.size(); ++i)
    for (int p = 0; p < 28 * 28; ++p) items.pixels.push_back(values[i]);
  items.labels = labels;
  return items;
}

// The message of the InputError `run` throws.
template <class F>
std::string input_error(F run) {
  try {
    run();
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError";
  return "";
}

// ----- fashion-mnist-scenes

TEST(FashionMnistScenes, EachSceneIsAFunctionOfSeedSplitAndIndexAlone) {
  const ImageArray items = square_items({100, 120, 140, 160}, {0, 1, 2, 3});
  const SegmentationSample a = make_fashion_mnist_scene(items, 7, Split::train, 123);
  const SegmentationSample b = make_fashion_mnist_scene(items, 7, Split::train, 123);
  EXPECT_EQ(a.image.pixels, b.image.pixels);
  EXPECT_EQ(a.mask.pixels, b.mask.pixels);
  int differing = 0;
  for (int64_t i = 0; i < 20; ++i) {
    const SegmentationSample base = make_fashion_mnist_scene(items, 7, Split::train, i);
    differing += make_fashion_mnist_scene(items, 8, Split::train, i).mask.pixels != base.mask.pixels;
    differing += make_fashion_mnist_scene(items, 7, Split::test, i).mask.pixels != base.mask.pixels;
  }
  EXPECT_GE(differing, 36);  // another seed or split gives other scenes
}

// Every item is a solid 28x28 square (value v >= 64, label l): the mask is l + 1 exactly where the image is
// non-zero, squares lie inside the canvas, and each scene has 1 to 3 of them (counted by the value sum).
TEST(FashionMnistScenes, ItemsAreDrawnInsideWithMaskClassPlusOne) {
  const ImageArray items = square_items({100}, {4});
  std::set<int64_t> counts;
  for (int64_t i = 0; i < 200; ++i) {
    const SegmentationSample s = make_fashion_mnist_scene(items, kDefaultSceneSeed, Split::train, i);
    ASSERT_EQ(s.image.height, 64);
    ASSERT_EQ(s.mask.channels, 1);
    int64_t covered = 0;
    for (size_t p = 0; p < s.image.pixels.size(); ++p) {
      ASSERT_EQ(s.mask.pixels[p], s.image.pixels[p] > 0 ? 5 : 0);
      ASSERT_TRUE(s.image.pixels[p] == 0 || s.image.pixels[p] == 100);
      covered += s.image.pixels[p] > 0;
    }
    EXPECT_GE(covered, 28 * 28);
    EXPECT_LE(covered, 3 * 28 * 28);
    counts.insert(covered == 28 * 28 ? 1 : 2);
  }
  EXPECT_EQ(counts.size(), 2u);  // single items and overlapping several
}

// Pixels <= 0.25 of full scale (<= 63) draw into the image but are background in the mask; later items are
// drawn over earlier ones only where their pixels are > 0.
TEST(FashionMnistScenes, MaskThresholdIsAQuarterOfFullScale) {
  for (const uint8_t v : {uint8_t(63), uint8_t(64)}) {
    const ImageArray items = square_items({v}, {9});
    const SegmentationSample s = make_fashion_mnist_scene(items, 3, Split::test, 0);
    for (size_t p = 0; p < s.image.pixels.size(); ++p) {
      if (s.image.pixels[p] > 0) {
        ASSERT_EQ(s.mask.pixels[p], v == 64 ? 10 : 0);
      }
    }
  }
}

TEST(FashionMnistScenes, SplitsHaveTheirSizesClassesAndRecordedStatistics) {
  SKIP_WITHOUT_FASHION_MNIST();
  const auto train = open_segmentation_dataset("fashion-mnist-scenes", "", Split::train);
  const auto test = open_segmentation_dataset("fashion-mnist-scenes", "", Split::test);
  EXPECT_EQ(train->size(), 20000);
  EXPECT_EQ(test->size(), 2000);
  ASSERT_EQ(train->num_classes(), 11);
  EXPECT_EQ(train->info().class_names[0], "background");
  EXPECT_EQ(train->info().class_names[1], "T-shirt/top");
  EXPECT_EQ(train->info().class_names[10], "Ankle boot");
  EXPECT_EQ(train->info().channels, 1);
  EXPECT_EQ(train->info().image_size, 64);
  // The recorded mean/std are those of the 20,000 default training scenes.
  double sum = 0, sum_sq = 0;
  int64_t n = 0;
  for (int64_t i = 0; i < train->size(); ++i) {
    for (const uint8_t v : train->get(i).image.pixels) {
      sum += v / 255.0;
      sum_sq += (v / 255.0) * (v / 255.0);
      ++n;
    }
  }
  const double mean = sum / double(n), std = std::sqrt(sum_sq / double(n) - mean * mean);
  std::printf("fashion-mnist-scenes: mean %.6f std %.6f\n", mean, std);
  EXPECT_NEAR(train->info().mean[0], mean, 5e-5);
  EXPECT_NEAR(train->info().std[0], std, 5e-5);
}

// ----- folder-seg

Image gray(int h, int w, uint8_t start) {
  Image image(h, w, 1);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = uint8_t(start + i);
  return image;
}

Image mask_of(int h, int w, std::vector<uint8_t> values) {
  Image mask(h, w, 1);
  for (size_t i = 0; i < mask.pixels.size(); ++i) mask.pixels[i] = values[i % values.size()];
  return mask;
}

const std::array<uint8_t, 3> kSomePalette[6] = {{0, 0, 0},   {255, 0, 0}, {0, 255, 0},
                                                {0, 0, 255}, {9, 9, 9},   {1, 2, 3}};

void write_file(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  test::write_bytes(path, bytes);
}

// train: a (gray mask 0,1,2,255), b (palette mask 0..5: palette indices, not colours); test: c.
fs::path write_small_tree() {
  const fs::path dir = scratch_dir();
  write_file(dir / "train/images/a.png", encode_png(gray(4, 5, 0)));
  write_file(dir / "train/masks/a.png", encode_png(mask_of(4, 5, {0, 1, 2, 255})));
  write_file(dir / "train/images/b.jpg", encode_jpeg(gray(4, 5, 50)));
  write_file(dir / "train/masks/b.png", encode_palette_png(mask_of(4, 5, {0, 5, 3}), kSomePalette));
  write_file(dir / "test/images/c.png", encode_png(gray(4, 5, 9)));
  write_file(dir / "test/masks/c.png", encode_png(mask_of(4, 5, {1})));
  return dir;
}

TEST(FolderSeg, ReadsGrayAndPaletteMasksAsClassIndices) {
  const fs::path dir = write_small_tree();
  const auto train = open_segmentation_dataset("folder-seg", dir.string(), Split::train);
  ASSERT_EQ(train->size(), 2);
  EXPECT_EQ(train->info().channels, 1);
  EXPECT_EQ(train->ignore_index(), 255);
  // No classes.txt: K = the largest mask value other than 255, plus 1.
  EXPECT_EQ(train->info().class_names, (std::vector<std::string>{"0", "1", "2", "3", "4", "5"}));
  const SegmentationSample a = train->get(0), b = train->get(1);
  EXPECT_EQ(a.image.pixels, gray(4, 5, 0).pixels);
  EXPECT_EQ(a.mask.pixels, mask_of(4, 5, {0, 1, 2, 255}).pixels);
  EXPECT_EQ(b.mask.pixels, mask_of(4, 5, {0, 5, 3}).pixels);
  const auto test = open_segmentation_dataset("folder-seg", dir.string(), Split::test);
  ASSERT_EQ(test->size(), 1);
  EXPECT_EQ(test->num_classes(), 6);
  EXPECT_EQ(test->get(0).mask.pixels, mask_of(4, 5, {1}).pixels);
}

TEST(FolderSeg, ClassesTxtNamesTheClasses) {
  const fs::path dir = write_small_tree();
  write_file(dir / "classes.txt", "sky\nroad\ncar\nx\ny\nz\n");
  const auto train = open_segmentation_dataset("folder-seg", dir.string(), Split::train);
  EXPECT_EQ(train->info().class_names, (std::vector<std::string>{"sky", "road", "car", "x", "y", "z"}));
}

TEST(FolderSeg, ErrorsNameTheFile) {
  {
    const fs::path dir = write_small_tree();
    fs::remove(dir / "train/masks/b.png");
    const std::string message =
        input_error([&] { open_segmentation_dataset("folder-seg", dir.string(), Split::train); });
    EXPECT_NE(message.find("b.jpg: no mask"), std::string::npos) << message;
    EXPECT_NE(message.find("masks/b.png"), std::string::npos) << message;
  }
  {
    const fs::path dir = write_small_tree();
    write_file(dir / "test/masks/c.png", encode_png(mask_of(3, 5, {1})));
    const auto test = open_segmentation_dataset("folder-seg", dir.string(), Split::test);
    const std::string message = input_error([&] { test->get(0); });
    EXPECT_NE(message.find("test/masks/c.png: mask is 3x5"), std::string::npos) << message;
  }
  {
    const fs::path dir = write_small_tree();
    write_file(dir / "classes.txt", "a\nb\n");
    const auto train = open_segmentation_dataset("folder-seg", dir.string(), Split::train);
    const std::string message = input_error([&] { train->get(0); });  // class 2, K = 2
    EXPECT_NE(message.find("train/masks/a.png: pixel (y 0, x 2) has class 2"), std::string::npos) << message;
  }
  {
    const fs::path dir = write_small_tree();
    Image rgb(4, 5, 3);
    write_file(dir / "test/masks/c.png", encode_png(rgb));
    const auto test = open_segmentation_dataset("folder-seg", dir.string(), Split::test);
    const std::string message = input_error([&] { test->get(0); });
    EXPECT_NE(message.find("c.png: PNG: a mask must be an 8-bit gray or a palette PNG"), std::string::npos)
        << message;
  }
  EXPECT_NE(input_error([&] {
              open_segmentation_dataset("seg", "x", Split::train);
            }).find("expected one of: folder-seg, fashion-mnist-scenes"),
            std::string::npos);
}

// A 4-bit palette PNG (two indices per byte, 16 colours) decodes to its indices; 16-bit gray and RGB are
// refused as masks.
TEST(FolderSeg, IndexPngUnpacksSmallPalettesAndRefusesOtherKinds) {
  const int h = 2, w = 3;
  const std::vector<uint8_t> indices = {0, 15, 7, 3, 1, 12};
  std::string raw;
  for (int y = 0; y < h; ++y) {
    raw += '\0';
    raw += char(indices[size_t(y * w)] << 4 | indices[size_t(y * w + 1)]);
    raw += char(indices[size_t(y * w + 2)] << 4);
  }
  std::string palette;
  for (int c = 0; c < 16; ++c) palette += {char(c * 16), char(255 - c * 16), char(c)};
  const std::string ihdr = test::be32(w) + test::be32(h) + std::string{4, 3, 0, 0, 0};
  const std::string png = std::string("\x89PNG\r\n\x1a\n", 8) + test::png_chunk("IHDR", ihdr) +
                          test::png_chunk("PLTE", palette) + test::png_chunk("IDAT", test::zlib_stored(raw)) +
                          test::png_chunk("IEND", "");
  const Image mask = decode_index_png(reinterpret_cast<const uint8_t*>(png.data()), png.size(), "m.png");
  ASSERT_EQ(mask.channels, 1);
  EXPECT_EQ(mask.pixels, indices);
  const std::string gray16 = test::png_file({1, 2, 3, 4}, 2, 2, 1, 16);
  EXPECT_NE(input_error([&] {
              decode_index_png(reinterpret_cast<const uint8_t*>(gray16.data()), gray16.size(), "g.png");
            }).find("g.png: PNG: a mask must be an 8-bit gray or a palette PNG"),
            std::string::npos);
  const std::string rgb = encode_png(Image(2, 2, 3));
  EXPECT_THROW(decode_index_png(reinterpret_cast<const uint8_t*>(rgb.data()), rgb.size(), "c.png"),
               InputError);
}

TEST(FashionMnistScenes, ThreeChannelsReplicateTheGrayScene) {
  SKIP_WITHOUT_FASHION_MNIST();
  const auto gray = open_segmentation_dataset("fashion-mnist-scenes", "", Split::test);
  const auto rgb = open_segmentation_dataset("fashion-mnist-scenes", "", Split::test, {.channels = 3});
  EXPECT_EQ(rgb->info().channels, 3);
  EXPECT_EQ(rgb->info().mean.size(), 3u);
  const SegmentationSample a = gray->get(5), b = rgb->get(5);
  ASSERT_EQ(b.image.channels, 3);
  for (size_t i = 0; i < a.image.pixels.size(); ++i) ASSERT_EQ(b.image.pixels[3 * i + 2], a.image.pixels[i]);
  EXPECT_EQ(a.mask.pixels, b.mask.pixels);
  EXPECT_THROW(open_segmentation_dataset("fashion-mnist-scenes", "", Split::test, {.ignore_index = 300}),
               InputError);
}

// ----- joint augmentation

// Image pixel = 1 + (y * W + x) % 250 and mask = the same value: after any crop and flip, every pixel is
// either padding (image 0, mask = ignore index) or an image pixel with its own mask value.
TEST(SegmentationAugment, CropAndFlipMoveTheMaskWithTheImage) {
  SegmentationSample sample{Image(16, 16, 1), Image(16, 16, 1)};
  for (size_t i = 0; i < sample.image.pixels.size(); ++i)
    sample.image.pixels[i] = sample.mask.pixels[i] = uint8_t(1 + i % 250);
  const SegmentationTransform transform{.crop_size = 16, .crop_padding = 4, .horizontal_flip = true};
  int flipped = 0, padded = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    const SegmentationSample out = augment_segmentation(transform, sample, seed);
    ASSERT_EQ(out.mask.height, 16);
    bool any_padding = false;
    for (size_t i = 0; i < out.image.pixels.size(); ++i) {
      if (out.image.pixels[i] == 0) {
        ASSERT_EQ(out.mask.pixels[i], 255);
        any_padding = true;
      } else {
        ASSERT_EQ(out.mask.pixels[i], out.image.pixels[i]);
      }
    }
    padded += any_padding;
    // A flipped row runs right to left: the value falls along x (where both neighbours are image).
    const uint8_t* row = out.image.at(8, 0);
    for (int x = 0; x + 1 < 16; ++x) {
      if (row[x] != 0 && row[x + 1] != 0) {
        flipped += row[x + 1] < row[x];
        break;
      }
    }
    EXPECT_EQ(augment_segmentation(transform, sample, seed).mask.pixels, out.mask.pixels);  // seeded
  }
  EXPECT_GT(flipped, 5);
  EXPECT_LT(flipped, 35);
  EXPECT_GT(padded, 20);
}

// ----- loader

class TinyScenes : public SegmentationDataset {
 public:
  TinyScenes() {
    info_.name = "tiny";
    info_.class_names = {"background", "a", "b"};
    info_.channels = 1;
    info_.image_size = 8;
    info_.mean = {0.5f};
    info_.std = {0.25f};
  }
  const DatasetInfo& info() const override { return info_; }
  int ignore_index() const override { return 255; }
  int64_t size() const override { return 37; }
  SegmentationSample get(int64_t index) const override {
    SegmentationSample s{Image(8, 8, 1), Image(8, 8, 1)};
    for (size_t i = 0; i < 64; ++i) {
      s.image.pixels[i] = uint8_t(index * 3 + i);
      s.mask.pixels[i] = uint8_t((index + i) % 3);
    }
    return s;
  }

 private:
  DatasetInfo info_;
};

std::vector<SegmentationBatch> one_epoch(int threads, int64_t epoch) {
  auto dataset = std::make_shared<TinyScenes>();
  SegmentationLoader loader(dataset, segmentation_train_transform(*dataset),
                            {.batch_size = 8, .seed = 5, .threads = threads});
  loader.start_epoch(epoch);
  std::vector<SegmentationBatch> batches;
  SegmentationBatch batch;
  while (loader.next(batch)) batches.push_back(batch);
  return batches;
}

TEST(SegmentationLoader, BatchesDependOnSeedAndEpochNotOnThreads) {
  const std::vector<SegmentationBatch> a = one_epoch(0, 1), b = one_epoch(2, 1), c = one_epoch(2, 2);
  ASSERT_EQ(a.size(), 5u);
  ASSERT_EQ(b.size(), 5u);
  EXPECT_EQ(shape_str(a[0].images.shape()), "[8,8,8,1]");
  EXPECT_EQ(shape_str(a[0].masks.shape()), "[8,8,8]");
  EXPECT_EQ(a[0].masks.dtype(), DType::u8);
  EXPECT_EQ(shape_str(a[4].masks.shape()), "[5,8,8]");
  std::set<int64_t> seen;
  for (size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].samples, b[k].samples);
    ASSERT_EQ(a[k].images.nbytes(), b[k].images.nbytes());
    EXPECT_EQ(0, std::memcmp(a[k].images.data(), b[k].images.data(), a[k].images.nbytes()));
    EXPECT_EQ(0, std::memcmp(a[k].masks.data(), b[k].masks.data(), a[k].masks.nbytes()));
    seen.insert(a[k].samples.begin(), a[k].samples.end());
  }
  EXPECT_EQ(seen.size(), 37u);
  EXPECT_NE(a[0].samples, c[0].samples);  // another epoch, another order
}

TEST(SegmentationLoader, EvalBatchesAreNormalisedImagesAndTheirMasks) {
  auto dataset = std::make_shared<TinyScenes>();
  SegmentationLoader loader(dataset, segmentation_eval_transform(*dataset),
                            {.batch_size = 4, .shuffle = false, .threads = 1});
  loader.start_epoch(0);
  SegmentationBatch batch;
  ASSERT_TRUE(loader.next(batch));
  const SegmentationSample s = dataset->get(2);
  for (int i = 0; i < 64; ++i) {
    EXPECT_FLOAT_EQ(batch.images.f32()[2 * 64 + i], (s.image.pixels[size_t(i)] / 255.0f - 0.5f) / 0.25f);
    EXPECT_EQ(batch.masks.data_as<uint8_t>()[2 * 64 + i], s.mask.pixels[size_t(i)]);
  }
}

// ----- resnet dataset export

TEST(DatasetExport, FolderSegReadsBackTheSameScenes) {
  SKIP_WITHOUT_FASHION_MNIST();
  const fs::path dir = scratch_dir() / "scenes";
  const std::string command = std::string(std::getenv("RESNET_BIN")) +
                              " dataset export fashion-mnist-scenes " + dir.string() +
                              " --seed 5 --limit 12 > /dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  EXPECT_TRUE(fs::exists(dir / "train/images/00011.png"));
  EXPECT_FALSE(fs::exists(dir / "train/images/00012.png"));
  for (const Split split : {Split::train, Split::test}) {
    const auto scenes = open_segmentation_dataset("fashion-mnist-scenes", "", split, {.seed = 5});
    const auto files = open_segmentation_dataset("folder-seg", dir.string(), split);
    EXPECT_EQ(files->info().class_names, scenes->info().class_names);
    EXPECT_EQ(files->info().channels, 1);
    ASSERT_EQ(files->size(), 12);
    for (int64_t i = 0; i < 12; ++i) {
      const SegmentationSample a = scenes->get(i), b = files->get(i);
      EXPECT_EQ(a.image.pixels, b.image.pixels) << i;
      EXPECT_EQ(a.mask.pixels, b.mask.pixels) << i;
    }
  }
  const std::string bad =
      std::string(std::getenv("RESNET_BIN")) + " dataset export cifar10 " + dir.string() + " 2> /dev/null";
  EXPECT_EQ(WEXITSTATUS(std::system(bad.c_str())), 2);
}

}  // namespace
}  // namespace resnet
