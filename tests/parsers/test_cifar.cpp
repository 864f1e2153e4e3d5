// CIFAR-10/100 binary reader on records written here: planes become HWC pixels, the right label byte is used,
// and broken files are rejected with the file name and the reason.
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "io/cifar.h"
#include "parsers/parser_test_util.h"
#include "resnet/error.h"

namespace resnet {
namespace {

using test::expect_input_error;
using test::scratch_dir;
using test::write_bytes;
namespace fs = std::filesystem;

// The pixel value the records below store for record r, channel c, row y, column x.
uint8_t pixel(int r, int c, int y, int x) {
  return static_cast<uint8_t>(r * 7 + c * 50 + y * 3 + x);
}

// Records with the given label bytes each, pixels from pixel().
std::string records(const std::vector<std::string>& labels) {
  std::string out;
  for (size_t r = 0; r < labels.size(); ++r) {
    out += labels[r];
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) out.push_back(static_cast<char>(pixel(int(r), c, y, x)));
  }
  return out;
}

// The message of the InputError `read` throws contains every one of `parts`.
TEST(Cifar, Reads10AsHwcImagesAcrossFiles) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "a.bin", records({{3}, {9}}));
  write_bytes(dir / "b.bin", records({{0}}));
  ImageArray array = read_cifar({(dir / "a.bin").string(), (dir / "b.bin").string()}, kCifar10);
  EXPECT_EQ(array.count, 3);
  EXPECT_EQ(array.height, 32);
  EXPECT_EQ(array.width, 32);
  EXPECT_EQ(array.channels, 3);
  EXPECT_EQ(array.labels, (std::vector<int64_t>{3, 9, 0}));
  ASSERT_EQ(array.pixels.size(), 3u * 3072u);
  for (int r : {0, 1}) {
    for (int y : {0, 5, 31}) {
      for (int x : {0, 17, 31}) {
        for (int c = 0; c < 3; ++c) {
          EXPECT_EQ(array.pixels[size_t(r) * 3072 + size_t(y * 32 + x) * 3 + size_t(c)], pixel(r, c, y, x));
        }
      }
    }
  }
  EXPECT_EQ(array.pixels[2 * 3072 + 1], pixel(0, 1, 0, 0));  // b.bin's first record
}

TEST(Cifar, Reads100FineLabels) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "train.bin", records({{19, 99}, {4, 0}, {0, 57}}));
  ImageArray array = read_cifar({(dir / "train.bin").string()}, kCifar100);
  EXPECT_EQ(array.labels, (std::vector<int64_t>{99, 0, 57}));
  EXPECT_EQ(array.pixels[3072 + 2], pixel(1, 2, 0, 0));
}

TEST(Cifar, RejectsTruncatedRecord) {
  const fs::path dir = scratch_dir();
  const std::string bytes = records({{1}, {2}});
  write_bytes(dir / "data_batch_1.bin", bytes.substr(0, bytes.size() - 100));
  expect_input_error(
      [&] { read_cifar({(dir / "data_batch_1.bin").string()}, kCifar10); },
      {(dir / "data_batch_1.bin").string(), "truncated", "3073-byte", "1 records and 2973 bytes over"});
}

TEST(Cifar, Rejects100FileReadAs10) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "train.bin", records({{1, 2}, {3, 4}, {5, 6}}));  // 3 x 3074 bytes
  expect_input_error([&] { read_cifar({(dir / "train.bin").string()}, kCifar10); },
                     {(dir / "train.bin").string(), "CIFAR-10"});
}

TEST(Cifar, RejectsEmptyFile) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "test_batch.bin", "");
  expect_input_error([&] { read_cifar({(dir / "test_batch.bin").string()}, kCifar10); },
                     {(dir / "test_batch.bin").string(), "empty"});
}

TEST(Cifar, RejectsLabelOutOfRange) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "test_batch.bin", records({{1}, {10}}));
  expect_input_error([&] { read_cifar({(dir / "test_batch.bin").string()}, kCifar10); },
                     {(dir / "test_batch.bin").string(), "record 1 has label 10"});
  write_bytes(dir / "test.bin", records({{1, 100}}));
  expect_input_error([&] { read_cifar({(dir / "test.bin").string()}, kCifar100); },
                     {(dir / "test.bin").string(), "record 0 has label 100"});
}

TEST(Cifar, RejectsMissingFile) {
  const fs::path dir = scratch_dir();
  expect_input_error([&] { read_cifar({(dir / "data_batch_3.bin").string()}, kCifar10); },
                     {(dir / "data_batch_3.bin").string(), "cannot open"});
}

}  // namespace
}  // namespace resnet
