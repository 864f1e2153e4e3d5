// torch .pth: files written by torch.save (tests/oracle/make_pth_fixtures.py) load with the right names,
// shapes, dtypes and values; malicious pickles are refused without running anything; broken archives give
// InputErrors.
#include <gtest/gtest.h>

#include <random>

#include "parsers/parser_test_util.h"
#include "resnet/weights.h"

namespace resnet {
namespace {

using namespace test;

std::string fixture(const std::string& name) {
  return (pth_fixtures() / name).string();
}

// make_pth_fixtures.py: Sequential(conv=Conv2d(2, 3, 3), bn=BatchNorm2d(3), fc=Linear(4, 2)); the k-th float
// tensor holds 100 * k + 0.25 * i, num_batches_tracked holds 7.
void expect_formula_state_dict(const StateDict& sd) {
  const std::vector<std::pair<std::string, Shape>> expected = {{"conv.weight", {3, 2, 3, 3}},
                                                               {"conv.bias", {3}},
                                                               {"bn.weight", {3}},
                                                               {"bn.bias", {3}},
                                                               {"bn.running_mean", {3}},
                                                               {"bn.running_var", {3}},
                                                               {"bn.num_batches_tracked", {}},
                                                               {"fc.weight", {2, 4}},
                                                               {"fc.bias", {2}}};
  ASSERT_EQ(sd.size(), expected.size());
  int k = 0;
  for (size_t i = 0; i < sd.size(); ++i) {
    EXPECT_EQ(sd[i].name, expected[i].first);
    EXPECT_EQ(sd[i].tensor.shape(), expected[i].second) << sd[i].name;
    if (sd[i].name == "bn.num_batches_tracked") {
      ASSERT_EQ(sd[i].tensor.dtype(), DType::i64);
      EXPECT_EQ(*sd[i].tensor.data_as<int64_t>(), 7);
      continue;
    }
    ASSERT_EQ(sd[i].tensor.dtype(), DType::f32) << sd[i].name;
    for (int64_t j = 0; j < sd[i].tensor.numel(); ++j)
      ASSERT_EQ(sd[i].tensor.f32()[j], 100.f * k + 0.25f * static_cast<float>(j))
          << sd[i].name << "[" << j << "]";
    ++k;
  }
}

std::vector<float> values_of(const Tensor& t) {
  return std::vector<float>(t.f32(), t.f32() + t.numel());
}

const Tensor& find(const StateDict& sd, const std::string& name) {
  for (const auto& nt : sd) {
    if (nt.name == name) return nt.tensor;
  }
  throw std::runtime_error("no tensor " + name);
}

TEST(Pth, LoadsTorchSaveOfAStateDict) {
  expect_formula_state_dict(load_pth(fixture("ordered_dict.pth")));
}

TEST(Pth, FindsDataPklWhateverTheArchiveFolderIsCalled) {
  expect_formula_state_dict(load_pth(fixture("archive_folder.pth")));  // "archive/"
  expect_formula_state_dict(load_pth(fixture("odd_folder.pth")));      // "some/deep/folder/"
}

TEST(Pth, AcceptsAStateDictWrapper) {
  expect_formula_state_dict(load_pth(fixture("wrapped_state_dict.pth")));
}

TEST(Pth, AcceptsAModelWrapper) {
  expect_formula_state_dict(load_pth(fixture("wrapped_model.pth")));
}

TEST(Pth, ReadsLittleEndianByteOrderEntry) {
  expect_formula_state_dict(load_pth(fixture("byteorder_little.pth")));
}

TEST(Pth, ReadsPickleProtocol4) {
  expect_formula_state_dict(load_pth(fixture("protocol4.pth")));
}

TEST(Pth, ReadsParametersAsTheirData) {
  const StateDict sd = load_pth(fixture("parameter.pth"));
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(sd[0].name, "w");
  EXPECT_EQ(values_of(sd[0].tensor), (std::vector<float>{0, 1, 2, 3}));
}

TEST(Pth, DecodesEveryStorageType) {
  const StateDict sd = load_pth(fixture("dtypes.pth"));
  const std::vector<float> floats = {1.5f, -2.f, 0.25f, 3.f, 65504.f, -0.f};
  EXPECT_EQ(values_of(find(sd, "f32")), floats);
  EXPECT_EQ(values_of(find(sd, "f16")), floats);
  EXPECT_EQ(values_of(find(sd, "f64")), floats);
  const Tensor& bf16 = find(sd, "bf16");
  ASSERT_EQ(bf16.dtype(), DType::bf16);
  EXPECT_EQ(bf16_to_f32(bf16.data_as<uint16_t>()[1]), -2.f);
  EXPECT_EQ(bf16_to_f32(bf16.data_as<uint16_t>()[4]), 65536.f);  // 65504 rounds to nearest bf16
  auto ints = [&](const std::string& name) {
    const Tensor& t = find(sd, name);
    EXPECT_EQ(t.dtype(), DType::i64) << name;
    return std::vector<int64_t>(t.data_as<int64_t>(), t.data_as<int64_t>() + t.numel());
  };
  EXPECT_EQ(ints("i64"), (std::vector<int64_t>{1, -2, 3, int64_t{1} << 40, -(int64_t{1} << 40), 0}));
  EXPECT_EQ(ints("i32"), (std::vector<int64_t>{1, -2, 3, 1 << 30, -(1 << 30), 0}));
  EXPECT_EQ(ints("i16"), (std::vector<int64_t>{1, -2, 3, 300, -300, 0}));
  const Tensor& i8 = find(sd, "i8");
  ASSERT_EQ(i8.dtype(), DType::s8);
  EXPECT_EQ(i8.data_as<int8_t>()[4], -100);
  const Tensor& u8 = find(sd, "u8");
  ASSERT_EQ(u8.dtype(), DType::u8);
  EXPECT_EQ(u8.data_as<uint8_t>()[4], 255);
  const Tensor& mask = find(sd, "bool");
  ASSERT_EQ(mask.dtype(), DType::u8);
  EXPECT_EQ(std::vector<uint8_t>(mask.data_as<uint8_t>(), mask.data_as<uint8_t>() + 6),
            (std::vector<uint8_t>{1, 0, 1, 1, 0, 0}));
}

TEST(Pth, MaterializesStridedAndOffsetViews) {
  // base = arange(24).reshape(4, 6), saved as views that share its storage.
  const StateDict sd = load_pth(fixture("views.pth"));
  EXPECT_EQ(find(sd, "slice").shape(), (Shape{4, 2}));
  EXPECT_EQ(values_of(find(sd, "slice")), (std::vector<float>{1, 2, 7, 8, 13, 14, 19, 20}));
  EXPECT_EQ(find(sd, "transposed").shape(), (Shape{6, 4}));
  EXPECT_EQ(values_of(find(sd, "transposed"))[1], 6.f);
  EXPECT_EQ(values_of(find(sd, "transposed"))[4], 1.f);
  EXPECT_EQ(values_of(find(sd, "row")), (std::vector<float>{12, 13, 14, 15, 16, 17}));
  EXPECT_EQ(values_of(find(sd, "whole"))[23], 23.f);
  EXPECT_EQ(values_of(find(sd, "expanded")), (std::vector<float>{0, 1, 2, 0, 1, 2}));  // stride 0
  EXPECT_EQ(find(sd, "scalar").shape(), Shape{});
  EXPECT_EQ(values_of(find(sd, "scalar")), std::vector<float>{5});
  EXPECT_EQ(find(sd, "empty").shape(), (Shape{0, 3}));
}

TEST(Pth, InflatesAStorageOnlyAsFarAsItsViewsReach) {
  // data/0: 2^22 deflated floats; the only view is its first element.
  const StateDict sd = load_pth(fixture("deflated_prefix.pth"));
  ASSERT_EQ(sd.size(), 1u);
  EXPECT_EQ(sd[0].tensor.shape(), Shape{1});
  EXPECT_EQ(values_of(sd[0].tensor), std::vector<float>{2.5f});
}

// --- Refused without running anything
// -----------------------------------------------------------------------------

TEST(Pth, RefusesOsSystemAndRunsNothing) {
  const auto marker = fs::path(pth_fixtures().string() + ".pwned");
  fs::remove(marker);
  const auto path = fixture("malicious.pth");
  EXPECT_INPUT_ERROR(load_pth(path), path,
                     "refuses to load global 'posix.system' (only state-dict contents are allowed)");
  EXPECT_FALSE(fs::exists(marker));
}

TEST(Pth, RefusesBuiltinsEvalThroughStackGlobal) {
  const auto marker = fs::path(pth_fixtures().string() + ".pwned");
  fs::remove(marker);
  const auto path = fixture("malicious_eval.pth");
  EXPECT_INPUT_ERROR(load_pth(path), path, "refuses to load global 'builtins.eval'");
  EXPECT_FALSE(fs::exists(marker));
}

TEST(Pth, RefusesAPickledModule) {
  const auto path = fixture("full_model.pth");
  EXPECT_INPUT_ERROR(load_pth(path), path, "refuses to load global 'torch.nn.modules.container.Sequential'");
}

TEST(Pth, RefusesObjectConstructionOpcodes) {
  const auto path = fixture("newobj.pth");
  EXPECT_INPUT_ERROR(load_pth(path), path, "unsupported pickle opcode 0x81");
}

TEST(Pth, RejectsTheLegacyFormatClearly) {
  const auto path = fixture("legacy.pth");
  EXPECT_INPUT_ERROR(load_pth(path), path, "legacy (non-zip) torch.save format is not supported");
}

TEST(Pth, RejectsWhatIsNotAStateDict) {
  EXPECT_INPUT_ERROR(load_pth(fixture("top_level_list.pth")), "top_level_list.pth",
                     "holds a list, not a state dict");
  EXPECT_INPUT_ERROR(load_pth(fixture("not_a_tensor.pth")), "not_a_tensor.pth",
                     "'a' is an int, not a tensor");
}

// --- Broken archives
// ---------------------------------------------------------------------------------------------

struct BrokenCase {
  const char* file;
  const char* reason;
};

class BrokenPth : public ::testing::TestWithParam<BrokenCase> {};

TEST_P(BrokenPth, IsAnInputErrorNamingFileAndReason) {
  const auto path = fixture(GetParam().file);
  EXPECT_INPUT_ERROR(load_pth(path), path, GetParam().reason);
}

INSTANTIATE_TEST_SUITE_P(
    Pth, BrokenPth,
    ::testing::Values(
        BrokenCase{"no_data_pkl.pth", "no data.pkl in the zip archive"},
        BrokenCase{"byteorder_big.pth", "byte order 'big' is not supported (only little-endian)"},
        BrokenCase{"missing_storage.pth", "storage 'archive/data/0' is missing from the archive"},
        BrokenCase{"short_storage.pth",
                   "storage 'archive/data/0' has 10 bytes, but its 54 float32 elements need 216"},
        BrokenCase{"storage_numel_lies.pth",
                   "has 24 bytes, but its 2305843009213693952 float32 elements need"},
        BrokenCase{"truncated_pickle.pth", "data.pkl: truncated: opcode 0x58 needs"},
        BrokenCase{"huge_string.pth", "data.pkl: truncated: opcode 0x58 needs 2147483647 more bytes"},
        BrokenCase{"unknown_opcode.pth",
                   "data.pkl: unsupported pickle opcode 0xff (only state-dict contents"},
        BrokenCase{"huge_memo.pth", "data.pkl: memo index 4294967295 was never stored"},
        BrokenCase{"stack_underflow.pth", "data.pkl: opcode 0x52 pops an empty stack"},
        BrokenCase{"no_stop.pth", "data.pkl: ends without STOP"},
        BrokenCase{"empty_pickle.pth", "data.pkl: empty"},
        BrokenCase{"view_out_of_range.pth",
                   "'t': the view (offset 4, size [3], stride [1]) reaches element 6 of "
                   "storage 'archive/data/0', which has 6"},
        BrokenCase{"negative_stride.pth", "'t': invalid stride [-1] for size [3]"},
        BrokenCase{"huge_dims.pth", "'t': invalid size [4611686018427387904,4611686018427387904]"},
        BrokenCase{"huge_broadcast.pth",
                   "'t': the view of size [1099511627776] repeats storage 'archive/data/0'"},
        BrokenCase{"many_broadcasts.pth",
                   "its tensors would materialise 8589934592 bytes from 4 bytes of storages, more than the "
                   "limit (twice the storages' bytes + 1073741824)"},
        BrokenCase{"bad_persistent_id.pth", "persistent id of type 'module'"},
        BrokenCase{"crc_mismatch.pth", "zip entry 'ordered_dict/data/0': corrupt (CRC error)"}),
    [](const ::testing::TestParamInfo<BrokenCase>& info) {
      std::string name = info.param.file;
      return name.substr(0, name.find('.'));
    });

TEST(Pth, NotAZipArchive) {
  const auto path = (scratch_dir() / "text.pth").string();
  write_bytes(path, "hello");
  EXPECT_INPUT_ERROR(load_pth(path), path, "not a torch .pth file (not a zip archive)");
  EXPECT_INPUT_ERROR(load_pth(path + ".missing"), path + ".missing", "cannot open");
}

TEST(Pth, EveryTruncationIsAnInputError) {
  const std::string bytes = read_bytes(fixture("ordered_dict.pth"));
  const auto path = (scratch_dir() / "truncated.pth").string();
  for (size_t n = 0; n < bytes.size(); n += 3) {
    write_bytes(path, bytes.substr(0, n));
    const std::string message = input_error_of([&] { load_pth(path); });
    EXPECT_NE(message.find(path), std::string::npos) << "truncated to " << n << ": " << message;
  }
}

TEST(Pth, GarbledBytesGiveInputErrorsNeverCrashes) {
  const std::string bytes = read_bytes(fixture("ordered_dict.pth"));
  const auto path = (scratch_dir() / "garbled.pth").string();
  std::mt19937 rng(99);
  int loaded = 0;
  for (int trial = 0; trial < 1500; ++trial) {
    std::string garbled = bytes;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) garbled[rng() % garbled.size()] = static_cast<char>(rng());
    write_bytes(path, garbled);
    try {
      load_pth(path);
      ++loaded;  // a flip in padding or an unchecked field can leave a valid file
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
  EXPECT_LT(loaded, 1500);
}

// The zip CRC catches bytes garbled inside an archive, so to reach the unpickler the damaged data.pkl must be
// packed into a fresh archive: a small Python script writes data.pkl cut at every 5th byte, and with random
// bytes replaced, each into its own archive next to the original storages.
class DamagedPickle : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = scratch_dir();
    const std::string script = R"(
import random, sys, zipfile
src, out = sys.argv[1], sys.argv[2]
z = zipfile.ZipFile(src)
entries = {n.split('/', 1)[1]: z.read(n) for n in z.namelist()}
pkl = entries['data.pkl']
def write(name, data_pkl):
    with zipfile.ZipFile(f'{out}/{name}.pth', 'w') as w:
        for entry, data in entries.items():
            w.writestr('archive/' + entry, data_pkl if entry == 'data.pkl' else data)
for n in range(0, len(pkl), 5):
    write(f'cut{n}', pkl[:n])
rng = random.Random(7)
for i in range(400):
    garbled = bytearray(pkl)
    for _ in range(rng.randint(1, 3)):
        garbled[rng.randrange(len(garbled))] = rng.randrange(256)
    write(f'garbled{i}', bytes(garbled))
)";
    write_bytes(dir_ / "damage.py", script);
    const std::string command = "/usr/bin/python3 '" + (dir_ / "damage.py").string() + "' '" +
                                fixture("ordered_dict.pth") + "' '" + dir_.string() + "'";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
  std::vector<std::string> files(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      if (entry.path().filename().string().starts_with(prefix)) out.push_back(entry.path().string());
    }
    return out;
  }
  fs::path dir_;
};

TEST_F(DamagedPickle, CutAtAnyLengthIsAnInputErrorAboutDataPkl) {
  const auto paths = files("cut");
  EXPECT_GT(paths.size(), 100u);
  for (const auto& path : paths) {
    const std::string message = input_error_of([&] { load_pth(path); });
    EXPECT_NE(message.find(path), std::string::npos) << message;
    EXPECT_NE(message.find("data.pkl"), std::string::npos) << message;
  }
}

TEST_F(DamagedPickle, RandomBytesGiveInputErrorsNeverCrashes) {
  const auto paths = files("garbled");
  EXPECT_EQ(paths.size(), 400u);
  for (const auto& path : paths) {
    try {
      load_pth(path);  // a changed value (a float, a key's letter) can still be a valid state dict
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace resnet
