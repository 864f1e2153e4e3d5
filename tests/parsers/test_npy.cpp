// .npy: reads what numpy writes, writes byte for byte what numpy writes, and refuses malformed files clearly.
#include <gtest/gtest.h>

#include <random>

#include "parsers/parser_test_util.h"
#include "resnet/npy.h"

namespace resnet {
namespace {

using namespace test;

std::string fixture(const std::string& name) {
  return (pth_fixtures() / name).string();
}

std::vector<float> values_of(const Tensor& t) {
  return std::vector<float>(t.f32(), t.f32() + t.numel());
}

const std::vector<float> k2d = {0, 0.5f, 1, 1.5f, 2, 2.5f};  // np.arange(6).reshape(2, 3) * 0.5

TEST(Npy, ReadsWhatNumpyWrites) {
  const Tensor a = load_npy(fixture("numpy_2d.npy"));
  EXPECT_EQ(a.shape(), (Shape{2, 3}));
  EXPECT_EQ(values_of(a), k2d);
  EXPECT_EQ(load_npy(fixture("numpy_1d.npy")).shape(), Shape{5});
  const Tensor scalar = load_npy(fixture("numpy_scalar.npy"));
  EXPECT_EQ(scalar.shape(), Shape{});
  EXPECT_EQ(values_of(scalar), std::vector<float>{2.5f});
}

TEST(Npy, ConvertsFloat64ToFloat32) {
  const Tensor a = load_npy(fixture("numpy_f8.npy"));
  EXPECT_EQ(a.dtype(), DType::f32);
  EXPECT_EQ(values_of(a), k2d);
}

TEST(Npy, ReadsFormatVersions2And3) {
  EXPECT_EQ(values_of(load_npy(fixture("numpy_v2.npy"))), k2d);
  EXPECT_EQ(values_of(load_npy(fixture("numpy_v3.npy"))), k2d);
}

TEST(Npy, WritesByteForByteWhatNumpyWrites) {
  const auto dir = scratch_dir();
  const std::vector<std::pair<std::string, Tensor>> cases = {
      {"numpy_2d.npy", Tensor::from_vector({2, 3}, k2d)},
      {"numpy_1d.npy", Tensor::from_vector({5}, {0, 1, 2, 3, 4})},
      {"numpy_scalar.npy", Tensor::from_vector({}, {2.5f})}};
  for (const auto& [name, tensor] : cases) {
    const auto path = (dir / name).string();
    save_npy(tensor, path);
    EXPECT_EQ(read_bytes(path), read_bytes(fixture(name))) << name;
  }
}

TEST(Npy, RoundTripKeepsShapeAndValues) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> values(2 * 3 * 4 * 5);
  for (float& v : values) v = normal(rng);
  const auto path = (scratch_dir() / "x.npy").string();
  save_npy(Tensor::from_vector({2, 3, 4, 5}, values), path);
  const Tensor back = load_npy(path);
  EXPECT_EQ(back.shape(), (Shape{2, 3, 4, 5}));
  EXPECT_EQ(values_of(back), values);
  EXPECT_EQ(std::distance(fs::directory_iterator(fs::path(path).parent_path()), fs::directory_iterator()), 1);
}

TEST(Npy, SaveRefusesNonFloatTensorsAndUnwritablePaths) {
  const auto dir = scratch_dir();
  const auto path = (dir / "x.npy").string();
  EXPECT_INPUT_ERROR(save_npy(Tensor({2}, DType::i64), path), path, "only f32 tensors are saved, got i64");
  const auto missing = (dir / "no" / "x.npy").string();
  EXPECT_INPUT_ERROR(save_npy(Tensor({2}), missing), missing, "cannot write");
}

TEST(Npy, RefusesFortranOrder) {
  EXPECT_INPUT_ERROR(load_npy(fixture("numpy_fortran.npy")), "numpy_fortran.npy",
                     "Fortran-order arrays are not supported");
}

TEST(Npy, RefusesBigEndian) {
  EXPECT_INPUT_ERROR(load_npy(fixture("numpy_big_endian.npy")), "numpy_big_endian.npy",
                     "big-endian data ('>f4')");
}

TEST(Npy, RefusesIntegerArrays) {
  EXPECT_INPUT_ERROR(load_npy(fixture("numpy_int.npy")), "numpy_int.npy", "unsupported dtype '<i8'");
}

// --- Hand-made broken files
// ----------------------------------------------------------------------------------------

class BrokenNpy : public ::testing::Test {
 protected:
  void SetUp() override { path_ = (scratch_dir() / "broken.npy").string(); }
  // Version 1.0 file with this header text and `data` after it.
  void write(const std::string& header, const std::string& data) {
    std::string bytes = "\x93NUMPY\x01";
    bytes += '\0';
    bytes += static_cast<char>(header.size() & 0xff);
    bytes += static_cast<char>(header.size() >> 8);
    write_bytes(path_, bytes + header + data);
  }
  std::string path_;
};

TEST_F(BrokenNpy, NoMagic) {
  write_bytes(path_, "PK\x03\x04 not numpy");
  EXPECT_INPUT_ERROR(load_npy(path_), path_, "not a .npy file");
}

TEST_F(BrokenNpy, MissingFile) {
  EXPECT_INPUT_ERROR(load_npy(path_ + ".x"), path_ + ".x", "cannot open");
}

TEST_F(BrokenNpy, UnsupportedVersion) {
  write_bytes(path_, std::string("\x93NUMPY\x09\x00\x10\x00", 10) + std::string(16, ' '));
  EXPECT_INPUT_ERROR(load_npy(path_), path_, "unsupported format version 9.0");
}

TEST_F(BrokenNpy, HeaderLengthBeyondTheFile) {
  write_bytes(path_, std::string("\x93NUMPY\x01\x00\xff\xff{'descr'", 17));
  EXPECT_INPUT_ERROR(load_npy(path_), path_,
                     "header length 65535 is larger than the rest of the file (7 bytes)");
}

TEST_F(BrokenNpy, HeaderThatIsNotADict) {
  write("[1, 2, 3]\n", "");
  EXPECT_INPUT_ERROR(load_npy(path_), path_, "npy header: expected '{' at offset 0");
}

TEST_F(BrokenNpy, HeaderWithoutShape) {
  write("{'descr': '<f4', 'fortran_order': False, }\n", "");
  EXPECT_INPUT_ERROR(load_npy(path_), path_, "no 'shape' key");
}

TEST_F(BrokenNpy, UnterminatedString) {
  write("{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", "");
  EXPECT_INPUT_ERROR(load_npy(path_), path_, "npy header");
}

TEST_F(BrokenNpy, NegativeDimension) {
  write("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2), }\n", "");
  EXPECT_INPUT_ERROR(load_npy(path_), path_, "expected a non-negative integer");
}

TEST_F(BrokenNpy, HugeDimensionsOverflow) {
  write("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n", "");
  EXPECT_INPUT_ERROR(load_npy(path_), path_, "shape [4294967296,4294967296] is too large");
  write("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }\n", "");
  EXPECT_INPUT_ERROR(load_npy(path_), path_, "a dimension is too large");
}

TEST_F(BrokenNpy, DataShorterThanTheShape) {
  write("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n", std::string(20, '\0'));
  EXPECT_INPUT_ERROR(load_npy(path_), path_, "the data has 20 bytes, but shape [2,3] of '<f4' needs 24");
}

TEST_F(BrokenNpy, DataLongerThanTheShape) {
  write("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }\n", std::string(8, '\0'));
  EXPECT_INPUT_ERROR(load_npy(path_), path_, "the data has 8 bytes, but shape [1] of '<f4' needs 4");
}

TEST_F(BrokenNpy, EveryTruncationIsAnInputError) {
  const std::string bytes = read_bytes(fixture("numpy_2d.npy"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    write_bytes(path_, bytes.substr(0, n));
    const std::string message = input_error_of([&] { load_npy(path_); });
    EXPECT_NE(message.find(path_), std::string::npos) << "truncated to " << n << ": " << message;
  }
}

TEST_F(BrokenNpy, GarbledBytesGiveInputErrorsNeverCrashes) {
  const std::string bytes = read_bytes(fixture("numpy_2d.npy"));
  std::mt19937 rng(3);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string garbled = bytes;
    for (int f = 0; f < 1 + static_cast<int>(rng() % 3); ++f) garbled[rng() % 128] = static_cast<char>(rng());
    write_bytes(path_, garbled);
    try {
      load_npy(path_);
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace resnet
