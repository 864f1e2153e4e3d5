// safetensors: round trip, the reference library's layout, dtype conversion, and every way a file can lie.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "parsers/parser_test_util.h"
#include "resnet/weights.h"

namespace resnet {
namespace {

using namespace test;

std::string le64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>(v >> (8 * i));
  return out;
}

// [u64 header length][header][data], the header as given (no padding).
std::string safetensors_bytes(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

template <class T>
std::string raw(std::initializer_list<T> values) {
  std::string out(values.size() * sizeof(T), '\0');
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}

Tensor typed_tensor(Shape shape, DType dtype, const std::string& bytes) {
  Tensor t(std::move(shape), dtype);
  EXPECT_EQ(t.nbytes(), bytes.size());
  std::memcpy(t.data(), bytes.data(), t.nbytes());
  return t;
}

void expect_same_tensors(const StateDict& a, const StateDict& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].name, b[i].name);
    EXPECT_EQ(a[i].tensor.dtype(), b[i].tensor.dtype()) << a[i].name;
    EXPECT_EQ(a[i].tensor.shape(), b[i].tensor.shape()) << a[i].name;
    ASSERT_EQ(a[i].tensor.nbytes(), b[i].tensor.nbytes()) << a[i].name;
    EXPECT_EQ(std::memcmp(a[i].tensor.data(), b[i].tensor.data(), a[i].tensor.nbytes()), 0) << a[i].name;
  }
}

StateDict sample_state_dict() {
  return {{"z.weight", Tensor::from_vector({2, 3}, {1.5f, -2.f, 0.f, 3.25f, 1e-30f, -7.f})},
          {"a.bias", typed_tensor({3}, DType::bf16, raw<uint16_t>({0x3fc0, 0xc000, 0x0001}))},
          {"bn.num_batches_tracked", typed_tensor({}, DType::i64, raw<int64_t>({123456789012}))},
          {"codes", typed_tensor({4}, DType::s8, raw<int8_t>({-128, -1, 0, 127}))},
          {"mask", typed_tensor({2, 2}, DType::u8, raw<uint8_t>({0, 1, 200, 255}))},
          {"empty", Tensor({0, 4})},
          {"last", Tensor::from_vector({1}, {42.f})}};
}

TEST(Safetensors, RoundTripKeepsBytesShapesNamesAndOrder) {
  const auto path = (scratch_dir() / "model.safetensors").string();
  const StateDict saved = sample_state_dict();
  save_safetensors(saved, path);
  expect_same_tensors(load_safetensors(path), saved);
}

TEST(Safetensors, SavedHeaderIsSpacePaddedToEightBytesWithMetadataFirst) {
  const auto path = (scratch_dir() / "model.safetensors").string();
  save_safetensors(sample_state_dict(), path, {{"format", "pt"}, {"epoch", "3"}});
  const std::string bytes = read_bytes(path);
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);
  EXPECT_EQ(header_size % 8, 0u);
  const std::string header = bytes.substr(8, header_size);
  EXPECT_TRUE(header.starts_with(R"({"__metadata__":{"epoch":"3","format":"pt"},"z.weight":{"dtype":"F32",)"))
      << header;
  const auto json = nlohmann::json::parse(header);
  EXPECT_EQ(json["z.weight"]["data_offsets"], nlohmann::json({0, 24}));
  EXPECT_EQ(json["a.bias"]["dtype"], "BF16");
  EXPECT_EQ(json["bn.num_batches_tracked"]["shape"], nlohmann::json::array());
  EXPECT_EQ(bytes.size(), 8 + header_size + 24 + 6 + 8 + 4 + 4 + 0 + 4);
}

TEST(Safetensors, SaveReplacesTheFileAndLeavesNoTempFile) {
  const auto dir = scratch_dir();
  const auto path = (dir / "model.safetensors").string();
  save_safetensors(sample_state_dict(), path);
  save_safetensors({{"only", Tensor::full({2}, 1.f)}}, path);
  EXPECT_EQ(load_safetensors(path).size(), 1u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
}

TEST(Safetensors, SaveIntoAMissingDirectoryNamesTheFile) {
  const auto path = (scratch_dir() / "no" / "such" / "model.safetensors").string();
  EXPECT_INPUT_ERROR(save_safetensors(sample_state_dict(), path), path, "cannot write");
}

TEST(Safetensors, SaveRefusesDuplicateNames) {
  const auto path = (scratch_dir() / "model.safetensors").string();
  EXPECT_INPUT_ERROR(save_safetensors({{"w", Tensor({1})}, {"w", Tensor({1})}}, path), path,
                     "two tensors named 'w'");
}

TEST(Safetensors, ReadsTheReferenceLayoutAndWritesItBackByteForByte) {
  // Written by tests/oracle/make_pth_fixtures.py exactly as safetensors.torch.save_file lays files out.
  const auto reference = (pth_fixtures() / "reference.safetensors").string();
  const StateDict sd = load_safetensors(reference);
  ASSERT_EQ(sd.size(), 5u);
  EXPECT_EQ(sd[0].name, "bn.num_batches_tracked");
  EXPECT_EQ(sd[0].tensor.dtype(), DType::i64);
  EXPECT_EQ(sd[0].tensor.shape(), Shape{});
  EXPECT_EQ(*sd[0].tensor.data_as<int64_t>(), 7);
  EXPECT_EQ(sd[1].name, "conv.weight");
  EXPECT_EQ(sd[1].tensor.shape(), (Shape{3, 1, 2, 2}));
  for (int i = 0; i < 12; ++i) EXPECT_EQ(sd[1].tensor.f32()[i], 0.5f * i);
  EXPECT_EQ(sd[2].name, "empty");
  EXPECT_EQ(sd[2].tensor.shape(), (Shape{0, 4}));
  EXPECT_EQ(sd[3].name, "half");
  EXPECT_EQ(sd[3].tensor.dtype(), DType::bf16);
  EXPECT_EQ(bf16_to_f32(sd[3].tensor.data_as<uint16_t>()[1]), -2.f);
  EXPECT_EQ(sd[4].name, "codes");
  EXPECT_EQ(sd[4].tensor.data_as<int8_t>()[2], -3);

  const auto copy = (scratch_dir() / "copy.safetensors").string();
  save_safetensors(sd, copy, {{"format", "pt"}});
  EXPECT_EQ(read_bytes(copy), read_bytes(reference));
}

TEST(Safetensors, ConvertsF16AndF64ToF32AndI32ToI64) {
  const auto path = (scratch_dir() / "wide.safetensors").string();
  const std::string header = R"({"__metadata__":{"format":"pt"},)"
                             R"("h":{"dtype":"F16","shape":[3],"data_offsets":[0,6]},)"
                             R"("d":{"dtype":"F64","shape":[2],"data_offsets":[6,22]},)"
                             R"("i":{"dtype":"I32","shape":[2],"data_offsets":[22,30]}})";
  write_bytes(path,
              safetensors_bytes(header, raw<uint16_t>({0x3e00, 0xc000, 0x0001}) + raw<double>({0.25, -3.0}) +
                                            raw<int32_t>({-5, 2000000000})));
  const StateDict sd = load_safetensors(path);
  ASSERT_EQ(sd.size(), 3u);
  EXPECT_EQ(sd[0].tensor.dtype(), DType::f32);
  EXPECT_EQ(sd[0].tensor.f32()[0], 1.5f);
  EXPECT_EQ(sd[0].tensor.f32()[1], -2.f);
  EXPECT_EQ(sd[0].tensor.f32()[2], 5.9604645e-08f);  // the smallest subnormal half
  EXPECT_EQ(sd[1].tensor.dtype(), DType::f32);
  EXPECT_EQ(sd[1].tensor.f32()[1], -3.f);
  EXPECT_EQ(sd[2].tensor.dtype(), DType::i64);
  EXPECT_EQ(sd[2].tensor.data_as<int64_t>()[0], -5);
  EXPECT_EQ(sd[2].tensor.data_as<int64_t>()[1], 2000000000);
}

TEST(Safetensors, OrderFollowsDataOffsetsNotTheHeader) {
  const auto path = (scratch_dir() / "order.safetensors").string();
  write_bytes(path, safetensors_bytes(R"({"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},)"
                                      R"("a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
                                      "\x01\x02"));
  const StateDict sd = load_safetensors(path);
  ASSERT_EQ(sd.size(), 2u);
  EXPECT_EQ(sd[0].name, "a");
  EXPECT_EQ(sd[1].name, "b");
}

// --- Files that lie
// -----------------------------------------------------------------------------------------------

class BrokenSafetensors : public ::testing::Test {
 protected:
  void SetUp() override { path_ = (scratch_dir() / "broken.safetensors").string(); }
  // A file with this header and `data_size` zero bytes of data.
  void write(const std::string& header, size_t data_size) {
    write_bytes(path_, safetensors_bytes(header, std::string(data_size, '\0')));
  }
  std::string path_;
};

TEST_F(BrokenSafetensors, EmptyFile) {
  write_bytes(path_, "");
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "shorter than the 8-byte header length");
}

TEST_F(BrokenSafetensors, MissingFile) {
  EXPECT_INPUT_ERROR(load_safetensors(path_ + ".nope"), path_ + ".nope", "cannot open");
}

TEST_F(BrokenSafetensors, HeaderLengthLargerThanTheFile) {
  write_bytes(path_, le64(1000) + R"({"a":1})");
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_,
                     "header length 1000 is larger than the rest of the file (7 bytes)");
}

TEST_F(BrokenSafetensors, HeaderLengthNearTwoToThe64) {
  write_bytes(path_, le64(~uint64_t{0}) + "{}");
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "is larger than the rest of the file");
}

TEST_F(BrokenSafetensors, HeaderIsNotJson) {
  write(R"({"a": {"dtype": "F32", )", 0);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "safetensors header: not valid JSON");
}

TEST_F(BrokenSafetensors, HeaderIsNotAnObject) {
  write("[1, 2]", 0);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "not a JSON object");
}

TEST_F(BrokenSafetensors, EntryIsNotAnObject) {
  write(R"({"w": 3})", 0);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "'w' is not an object");
}

TEST_F(BrokenSafetensors, MissingDtype) {
  write(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "'w' has no \"dtype\"");
}

TEST_F(BrokenSafetensors, MissingShape) {
  write(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "'w' has no \"shape\"");
}

TEST_F(BrokenSafetensors, MissingDataOffsets) {
  write(R"({"w":{"dtype":"F32","shape":[1]}})", 4);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "'w' has no \"data_offsets\"");
}

TEST_F(BrokenSafetensors, UnsupportedDtype) {
  write(R"({"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", 1);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "'w': unsupported dtype 'F8_E4M3'");
}

TEST_F(BrokenSafetensors, NegativeDimension) {
  write(R"({"w":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}})", 16);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_,
                     "shape [-1,4] has a dimension that is not a non-negative integer");
}

TEST_F(BrokenSafetensors, FractionalDimension) {
  write(R"({"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}})", 4);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "not a non-negative integer");
}

TEST_F(BrokenSafetensors, HugeDimensionsOverflow) {
  write(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", 0);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "shape [4294967296,4294967296] is too large");
}

TEST_F(BrokenSafetensors, DimensionBeyondInt64) {
  write(R"({"w":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,0]}})", 0);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "is too large");
}

TEST_F(BrokenSafetensors, DataOffsetsBeyondTheFile) {
  write(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 8);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_,
                     "'w': data_offsets [0,16] go beyond the end of the file");
}

TEST_F(BrokenSafetensors, DataOffsetsNearTwoToThe64) {
  write(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[18446744073709551615,18446744073709551615]}})", 1);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "go beyond the end of the file");
}

TEST_F(BrokenSafetensors, DataOffsetsThatAreNotAPair) {
  write(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "is not [begin, end]");
}

TEST_F(BrokenSafetensors, DataOffsetsEndBeforeTheyBegin) {
  write(R"({"w":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 4);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "end before they begin");
}

TEST_F(BrokenSafetensors, OffsetsNotMatchingDtypeTimesShape) {
  write(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_,
                     "'w': data_offsets [0,8] span 8 bytes, but F32 [3] needs 12");
}

TEST_F(BrokenSafetensors, OverlappingOffsets) {
  write(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
        12);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_,
                     "'b' (data_offsets [4,12]) overlaps 'a' (data_offsets [0,8])");
}

TEST_F(BrokenSafetensors, GapBetweenTensors) {
  write(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
        12);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "bytes 4..8 of the data section belong to no tensor");
}

TEST_F(BrokenSafetensors, TrailingBytes) {
  write(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 10);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_,
                     "the data section has 10 bytes, but the tensors end at byte 4");
}

TEST_F(BrokenSafetensors, MetadataWithNonStringValues) {
  write(R"({"__metadata__":{"epoch":3}})", 0);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "\"__metadata__\" entry 'epoch' is not a string");
}

TEST_F(BrokenSafetensors, EveryTruncationIsAnInputError) {
  const auto good = (scratch_dir() / "good.safetensors").string();
  save_safetensors(sample_state_dict(), good, {{"format", "pt"}});
  const std::string bytes = read_bytes(good);
  for (size_t n = 0; n < bytes.size(); ++n) {
    write_bytes(path_, bytes.substr(0, n));
    const std::string message = input_error_of([&] { load_safetensors(path_); });
    EXPECT_NE(message.find(path_), std::string::npos) << "truncated to " << n << ": " << message;
  }
}

TEST_F(BrokenSafetensors, GarbledBytesGiveInputErrorsNeverCrashes) {
  const auto good = (scratch_dir() / "good.safetensors").string();
  save_safetensors(sample_state_dict(), good);
  const std::string bytes = read_bytes(good);
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string garbled = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      // Mostly the length and header (where lies matter), sometimes anywhere.
      const size_t limit = trial % 4 == 0 ? garbled.size() : std::min<size_t>(garbled.size(), 200);
      garbled[rng() % limit] = static_cast<char>(rng());
    }
    write_bytes(path_, garbled);
    try {
      load_safetensors(path_);
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(path_), std::string::npos) << e.what();
    }
  }
}

// --- load_weights picks the format by content
// ----------------------------------------------------------------------

TEST(LoadWeights, DispatchesOnContentNotOnExtension) {
  const auto dir = scratch_dir();
  const auto misnamed = (dir / "model.pth").string();
  save_safetensors(sample_state_dict(), misnamed);
  expect_same_tensors(load_weights(misnamed), sample_state_dict());

  const auto pth = (dir / "weights.bin").string();
  fs::copy_file(pth_fixtures() / "ordered_dict.pth", pth);
  EXPECT_EQ(load_weights(pth).size(), 9u);
}

TEST(LoadWeights, SafetensorsWhoseHeaderLengthLooksLikeAnotherMagicIsStillSafetensors) {
  // Header lengths 0x80 (pickle PROTO) and 0x4b50 ("PK" little-endian): padding with spaces is valid JSON.
  for (uint64_t header_size : {uint64_t{0x80}, uint64_t{0x4b50}}) {
    const auto path = (scratch_dir() / "odd_length.safetensors").string();
    std::string header = R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}})";
    header.resize(header_size, ' ');
    write_bytes(path, safetensors_bytes(header, "\x05\x06"));
    const StateDict sd = load_weights(path);
    ASSERT_EQ(sd.size(), 1u);
    EXPECT_EQ(sd[0].tensor.data_as<uint8_t>()[1], 6);
  }
}

TEST(LoadWeights, UnknownContentNamesTheFile) {
  const auto path = (scratch_dir() / "notes.bin").string();
  write_bytes(path, "these are not weights at all");
  EXPECT_INPUT_ERROR(load_weights(path), path, "unknown weight file format");
  write_bytes(path, "");
  EXPECT_INPUT_ERROR(load_weights(path), path, "unknown weight file format");
  EXPECT_INPUT_ERROR(load_weights(path + ".missing"), path + ".missing", "cannot open");
}

TEST(LoadWeights, LegacyTorchFilesGetTheExplanation) {
  const auto path = (pth_fixtures() / "legacy.pth").string();
  EXPECT_INPUT_ERROR(load_weights(path), path, "legacy (non-zip) torch.save format is not supported");
}

}  // namespace
}  // namespace resnet

// Hostile headers (issue 14's first fuzz campaign): a number nlohmann cannot hold, nesting deep enough to
// overflow the stack, values too long to quote. Each is one InputError naming the file.
namespace resnet {
namespace {

using namespace test;

TEST_F(BrokenSafetensors, NumberOverflowIsAnInputError) {
  write(R"({"w": 1e999})", 0);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "safetensors header: not valid JSON");
  write(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,184467440737095516160000]}})", 4);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "is not [begin, end] with non-negative integers");
}

TEST_F(BrokenSafetensors, DeepNestingIsRefusedBeforeParsing) {
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  write(R"({"w":{"dtype":"F32","shape":)" + deep + R"(,"data_offsets":[0,4]}})", 4);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "safetensors header: JSON nested deeper than 64 levels");
  // 64 levels are fine as JSON (and refused as a shape).
  const std::string nested = std::string(62, '[') + std::string(62, ']');
  write(R"({"w":{"dtype":"F32","shape":)" + nested + R"(,"data_offsets":[0,4]}})", 4);
  EXPECT_INPUT_ERROR(load_safetensors(path_), path_, "has a dimension that is not a non-negative integer");
}

TEST_F(BrokenSafetensors, MessagesQuoteLongValuesCutShort) {
  std::string shape = "[";
  for (int i = 0; i < 10'000; ++i) shape += "1.5,";
  shape.back() = ']';
  const std::string name(100'000, 'n');
  write(R"({")" + name + R"(":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":[0,4]}})", 4);
  const std::string message = input_error_of([&] { load_safetensors(path_); });
  EXPECT_NE(message.find("has a dimension that is not a non-negative integer"), std::string::npos) << message;
  EXPECT_LT(message.size(), path_.size() + 400) << message;
}

}  // namespace
}  // namespace resnet
