// IDX reader (MNIST / Fashion-MNIST files): plain and gzipped files written here, and every way such a file
// can be broken, each rejected with an InputError naming the file and the problem.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "io/idx.h"
#include "parsers/parser_test_util.h"
#include "resnet/error.h"

namespace resnet {
namespace {

using test::expect_input_error;
using test::read_bytes;
using test::scratch_dir;
using test::write_bytes;
namespace fs = std::filesystem;

// gzip(1) writes "<path>.gz" next to the file (the test executables do not link zlib themselves).
fs::path gzip(const fs::path& path) {
  const std::string command = "gzip -n -f -k '" + path.string() + "'";
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return fs::path(path.string() + ".gz");
}

// An IDX file of unsigned bytes with the given dims; element i is i % 251.
std::string idx_bytes(const std::vector<uint32_t>& dims, char type = 0x08) {
  std::string out = {0, 0, type, static_cast<char>(dims.size())};
  size_t numel = 1;
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(d >> shift));
    numel *= d;
  }
  for (size_t i = 0; i < numel; ++i) out.push_back(static_cast<char>(i % 251));
  return out;
}

// A labels file [n] holding `labels`.
std::string labels_bytes(const std::string& labels) {
  return idx_bytes({static_cast<uint32_t>(labels.size())}).substr(0, 8) + labels;
}

// The message of the InputError `read` throws contains every one of `parts`.
TEST(Idx, ReadsImagesAndLabelsPlainAndGzipped) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "images", idx_bytes({3, 4, 5}));
  write_bytes(dir / "labels", labels_bytes({7, 0, 9}));
  for (bool gz : {false, true}) {
    const fs::path images = gz ? gzip(dir / "images") : dir / "images";
    const fs::path labels = gz ? gzip(dir / "labels") : dir / "labels";
    ImageArray array = read_idx_dataset(images.string(), labels.string(), 10);
    EXPECT_EQ(array.count, 3);
    EXPECT_EQ(array.height, 4);
    EXPECT_EQ(array.width, 5);
    EXPECT_EQ(array.channels, 1);
    ASSERT_EQ(array.pixels.size(), 60u);
    for (size_t i = 0; i < 60; ++i) EXPECT_EQ(array.pixels[i], i % 251);
    EXPECT_EQ(array.labels, (std::vector<int64_t>{7, 0, 9}));
  }
}

TEST(Idx, ReadsArraysOfAnyRank) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "a", idx_bytes({2, 3, 4, 5}));
  IdxArray array = read_idx((dir / "a").string());
  EXPECT_EQ(array.dims, (std::vector<int64_t>{2, 3, 4, 5}));
  EXPECT_EQ(array.data.size(), 120u);
}

TEST(Idx, GzipOfTwoMembersIsOneStream) {
  const fs::path dir = scratch_dir();
  const std::string whole = idx_bytes({2, 3, 3});
  write_bytes(dir / "part1", whole.substr(0, 10));
  write_bytes(dir / "part2", whole.substr(10));
  write_bytes(dir / "joined.gz", read_bytes(gzip(dir / "part1")) + read_bytes(gzip(dir / "part2")));
  EXPECT_EQ(read_idx((dir / "joined.gz").string()).data.size(), 18u);
}

TEST(Idx, RejectsBadMagic) {
  const fs::path dir = scratch_dir();
  std::string bytes = idx_bytes({2, 2, 2});
  bytes[0] = 0x50;
  write_bytes(dir / "bad", bytes);
  expect_input_error([&] { read_idx((dir / "bad").string()); }, {(dir / "bad").string(), "bad magic"});
}

TEST(Idx, RejectsUnsupportedElementType) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "floats", idx_bytes({2, 2}, 0x0D));
  expect_input_error([&] { read_idx((dir / "floats").string()); }, {(dir / "floats").string(), "type 0x0d"});
}

TEST(Idx, RejectsTruncatedHeader) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "short", std::string{0, 0, 8});
  expect_input_error([&] { read_idx((dir / "short").string()); }, {(dir / "short").string(), "needs 4"});
  write_bytes(dir / "header", idx_bytes({6, 28, 28}).substr(0, 10));  // the header needs 4 + 3 * 4 bytes
  expect_input_error([&] { read_idx((dir / "header").string()); },
                     {(dir / "header").string(), "truncated", "needs 16 bytes"});
}

TEST(Idx, RejectsTruncatedData) {
  const fs::path dir = scratch_dir();
  std::string bytes = idx_bytes({5, 4, 4});
  bytes.pop_back();
  write_bytes(dir / "cut", bytes);
  expect_input_error([&] { read_idx((dir / "cut").string()); },
                     {(dir / "cut").string(), "truncated", "[5,4,4] need 80 bytes", "has 79"});
}

TEST(Idx, RejectsTrailingBytes) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "long", idx_bytes({2, 2, 2}) + "xy");
  expect_input_error([&] { read_idx((dir / "long").string()); },
                     {(dir / "long").string(), "2 unexpected bytes"});
}

TEST(Idx, RejectsZeroDimensionAndHugeDims) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "zero", idx_bytes({3, 0, 2}));
  expect_input_error([&] { read_idx((dir / "zero").string()); },
                     {(dir / "zero").string(), "dimension 1 is 0"});
  write_bytes(dir / "huge", std::string{0, 0, 8, 3} + std::string(12, '\xff') + "x");
  expect_input_error([&] { read_idx((dir / "huge").string()); }, {(dir / "huge").string(), "truncated"});
}

// A 1 KB file claiming 10^12 elements: refused from its header, plain (against the file's size) or gzipped
// (against what the compressed file can inflate to), before the data is read or inflated.
TEST(Idx, RefusesAHeaderClaiming10To12ElementsFromASmallFile) {
  const fs::path dir = scratch_dir();
  const std::string header =
      std::string{0, 0, 8, 2, 0, 0x0f, 0x42, 0x40, 0, 0x0f, 0x42, 0x40};  // [10^6, 10^6]
  write_bytes(dir / "claims", header + std::string(1012, '\0'));
  expect_input_error([&] { read_idx((dir / "claims").string()); },
                     {(dir / "claims").string(), "truncated", "need 1000000000000 bytes", "has 1012"});
  const fs::path gz = gzip(dir / "claims");
  expect_input_error([&] { read_idx(gz.string()); },
                     {gz.string(), "need 1000000000000 bytes of data, more than a gzip file of"});
}

TEST(Idx, RejectsImagesLabelsCountMismatch) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "images", idx_bytes({3, 2, 2}));
  write_bytes(dir / "labels", labels_bytes({1, 2}));
  expect_input_error([&] { read_idx_dataset((dir / "images").string(), (dir / "labels").string(), 10); },
                     {(dir / "labels").string(), "2 labels", (dir / "images").string(), "3 images"});
}

TEST(Idx, RejectsLabelOutOfRange) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "images", idx_bytes({3, 2, 2}));
  write_bytes(dir / "labels", labels_bytes({1, 12, 2}));
  expect_input_error([&] { read_idx_dataset((dir / "images").string(), (dir / "labels").string(), 10); },
                     {(dir / "labels").string(), "label 12 of sample 1", "10 classes"});
}

TEST(Idx, RejectsSwappedImagesAndLabels) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "images", idx_bytes({3, 2, 2}));
  write_bytes(dir / "labels", labels_bytes({1, 2, 3}));
  expect_input_error([&] { read_idx_dataset((dir / "labels").string(), (dir / "images").string(), 10); },
                     {(dir / "labels").string(), "[count, rows, cols]", "dims [3]"});
}

TEST(Idx, RejectsCorruptGzip) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "images", idx_bytes({20, 8, 8}));
  const std::string gz = read_bytes(gzip(dir / "images"));
  std::string flipped = gz;
  flipped[gz.size() / 2] ^= 0x55;  // damages the deflate data (or, at worst, only the CRC check)
  write_bytes(dir / "flipped.gz", flipped);
  expect_input_error([&] { read_idx((dir / "flipped.gz").string()); },
                     {(dir / "flipped.gz").string(), "gzip"});
  std::string bad_crc = gz;
  bad_crc[gz.size() - 6] ^= 0x01;  // the CRC-32 in the trailer
  write_bytes(dir / "crc.gz", bad_crc);
  expect_input_error([&] { read_idx((dir / "crc.gz").string()); },
                     {(dir / "crc.gz").string(), "gzip", "incorrect data check"});
  write_bytes(dir / "garbage.gz", gz + "B");
  expect_input_error([&] { read_idx((dir / "garbage.gz").string()); },
                     {(dir / "garbage.gz").string(), "1 bytes of trailing garbage"});
}

TEST(Idx, RejectsTruncatedGzip) {
  const fs::path dir = scratch_dir();
  write_bytes(dir / "images", idx_bytes({20, 8, 8}));
  const std::string gz = read_bytes(gzip(dir / "images"));
  for (size_t keep : {size_t(2), size_t(12), gz.size() / 2, gz.size() - 1}) {
    write_bytes(dir / "cut.gz", gz.substr(0, keep));
    expect_input_error([&] { read_idx((dir / "cut.gz").string()); },
                       {(dir / "cut.gz").string(), "gzip", "truncated"});
  }
}

TEST(Idx, RejectsMissingFile) {
  const fs::path dir = scratch_dir();
  expect_input_error([&] { read_idx((dir / "absent").string()); },
                     {(dir / "absent").string(), "cannot open"});
}

}  // namespace
}  // namespace resnet
