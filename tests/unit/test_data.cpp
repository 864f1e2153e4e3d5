// The data pipeline: named datasets on files written here (and the real Fashion-MNIST of
// dataset-fashion-mnist), image folders, transforms against torchvision/PIL outputs made by
// tests/oracle/make_data_fixtures.py, and the loader's determinism, coverage, prefetching and error
// reporting.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/rng.h"
#include "data/transforms.h"
#include "io/image.h"
#include "parsers/parser_test_util.h"
#include "resnet/data.h"
#include "resnet/error.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;

using test::expect_input_error;
using test::read_bytes;
using test::scratch_dir;

// Writes a file, creating its folders.
void write_bytes(const fs::path& path, const std::string& bytes) {
  fs::create_directories(path.parent_path());
  test::write_bytes(path, bytes);
}

// The message of the InputError `run` throws contains every one of `parts`.
std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

// IDX images [n, side, side] with pixel (i, y, x) = (i + y + x) % 256, and labels i % 10, gzipped by gzip(1).
void write_idx_pair(const fs::path& dir, const std::string& prefix, int n, int side) {
  std::string images =
      std::string{0, 0, 8, 3} + be32(uint32_t(n)) + be32(uint32_t(side)) + be32(uint32_t(side));
  std::string labels = std::string{0, 0, 8, 1} + be32(uint32_t(n));
  for (int i = 0; i < n; ++i) {
    for (int p = 0; p < side * side; ++p) images += char((i + p / side + p % side) % 256);
    labels += char(i % 10);
  }
  write_bytes(dir / (prefix + "-images-idx3-ubyte"), images);
  write_bytes(dir / (prefix + "-labels-idx1-ubyte"), labels);
  for (const char* kind : {"-images-idx3-ubyte", "-labels-idx1-ubyte"}) {
    const std::string command = "gzip -n -f '" + (dir / (prefix + kind)).string() + "'";
    ASSERT_EQ(std::system(command.c_str()), 0) << command;
  }
}

// CIFAR records: label, then planes with value (r + c) for record r, channel c.
std::string cifar_records(int n, std::vector<int> label_bytes) {
  std::string out;
  for (int r = 0; r < n; ++r) {
    for (int label : label_bytes) out += char(label);
    for (int c = 0; c < 3; ++c) out += std::string(1024, char(r + c));
  }
  return out;
}

Image solid(int height, int width, int channels, uint8_t value) {
  Image image(height, width, channels);
  std::fill(image.pixels.begin(), image.pixels.end(), value);
  return image;
}

Image random_image(int height, int width, int channels, uint32_t seed) {
  std::mt19937 rng(seed);
  Image image(height, width, channels);
  for (uint8_t& p : image.pixels) p = static_cast<uint8_t>(rng() % 256);
  return image;
}

// n random images of side x side x 3 with labels i % 5.
std::shared_ptr<const Dataset> random_dataset(int n, int side) {
  ImageArray array;
  array.count = n;
  array.height = array.width = side;
  array.channels = 3;
  for (int i = 0; i < n; ++i) {
    Image image = random_image(side, side, 3, uint32_t(i));
    array.pixels.insert(array.pixels.end(), image.pixels.begin(), image.pixels.end());
    array.labels.push_back(i % 5);
  }
  DatasetInfo info;
  info.name = "random";
  info.class_names = {"a", "b", "c", "d", "e"};
  info.mean = {0.5f, 0.4f, 0.3f};
  info.std = {0.2f, 0.25f, 0.3f};
  return make_memory_dataset(std::move(array), std::move(info));
}

std::vector<Batch> run_epoch(Loader& loader, int64_t epoch) {
  loader.start_epoch(epoch);
  std::vector<Batch> batches;
  Batch batch;
  while (loader.next(batch)) batches.push_back(batch);
  return batches;
}

void expect_same_batches(const std::vector<Batch>& a, const std::vector<Batch>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].index, b[i].index);
    EXPECT_EQ(a[i].samples, b[i].samples);
    EXPECT_EQ(a[i].labels, b[i].labels);
    ASSERT_EQ(a[i].images.shape(), b[i].images.shape());
    EXPECT_EQ(std::memcmp(a[i].images.data(), b[i].images.data(), a[i].images.nbytes()), 0) << "batch " << i;
  }
}

// ----- named datasets

TEST(Data, RealFashionMnistHasItsPublishedShapeAndStatistics) {
  const std::string dir = default_data_dir("fashion-mnist");
  if (!fs::is_directory(dir)) GTEST_SKIP() << dir << " is missing (scripts/bootstrap.sh installs it)";
  std::unique_ptr<Dataset> train = open_dataset("fashion-mnist", "", Split::train);
  std::unique_ptr<Dataset> test = open_dataset("fashion-mnist", "", Split::test);
  ASSERT_EQ(train->size(), 60000);
  ASSERT_EQ(test->size(), 10000);
  EXPECT_EQ(train->channels(), 1);
  EXPECT_EQ(train->info().image_size, 28);
  EXPECT_EQ(train->class_names().front(), "T-shirt/top");
  EXPECT_EQ(train->class_names().back(), "Ankle boot");
  double sum = 0, sum_sq = 0;
  std::vector<int> per_class(10, 0);
  for (int64_t i = 0; i < train->size(); ++i) {
    const Sample sample = train->get(i);
    ASSERT_EQ(sample.image.pixels.size(), 784u);
    for (uint8_t p : sample.image.pixels) {
      sum += p / 255.0;
      sum_sq += (p / 255.0) * (p / 255.0);
    }
    ++per_class[size_t(sample.label)];
  }
  const double n = 60000.0 * 784.0;
  const double mean = sum / n;
  EXPECT_NEAR(mean, 0.2860, 5e-4);
  EXPECT_NEAR(std::sqrt(sum_sq / n - mean * mean), 0.3530, 5e-4);
  EXPECT_EQ(per_class, std::vector<int>(10, 6000));
  // The evaluation transform is Normalize((0.2860,), (0.3530,)) only.
  Loader loader(std::move(test), eval_transform(train->info()), {.batch_size = 100, .shuffle = false});
  loader.start_epoch(0);
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(batch.images.shape(), (Shape{100, 28, 28, 1}));
  const Sample first = loader.dataset().get(0);
  EXPECT_FLOAT_EQ(batch.images.f32()[300], (first.image.pixels[300] / 255.0f - 0.2860f) / 0.3530f);
  EXPECT_EQ(batch.labels[0], first.label);
}

TEST(Data, OpensMnistIdxFilesGzippedWithTheirNames) {
  const fs::path dir = scratch_dir();
  write_idx_pair(dir, "train", 12, 28);
  write_idx_pair(dir, "t10k", 5, 28);
  std::unique_ptr<Dataset> train = open_dataset("mnist", dir.string(), Split::train);
  std::unique_ptr<Dataset> test = open_dataset("mnist", dir.string(), Split::test);
  EXPECT_EQ(train->size(), 12);
  EXPECT_EQ(test->size(), 5);
  EXPECT_EQ(train->class_names(),
            (std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}));
  EXPECT_FALSE(train->info().mirror_invariant);
  EXPECT_EQ(train->info().mean, std::vector<float>{0.1307f});
  const Sample s = train->get(11);
  EXPECT_EQ(s.label, 1);
  EXPECT_EQ(s.image.height, 28);
  EXPECT_EQ(s.image.at(2, 3)[0], (11 + 2 + 3) % 256);
  EXPECT_EQ(train->label(7), 7);
  // As 3 channels: gray replicated, statistics too.
  std::unique_ptr<Dataset> rgb = open_dataset("mnist", dir.string(), Split::train, {.channels = 3});
  EXPECT_EQ(rgb->channels(), 3);
  EXPECT_EQ(rgb->info().std, (std::vector<float>{0.3081f, 0.3081f, 0.3081f}));
  EXPECT_EQ(rgb->get(11).image.at(2, 3)[2], (11 + 2 + 3) % 256);
}

TEST(Data, OpensCifarBinaryFolders) {
  const fs::path dir = scratch_dir();
  const fs::path batches = dir / "cifar-10-batches-bin";  // as the tarball unpacks
  for (int i = 1; i <= 5; ++i)
    write_bytes(batches / ("data_batch_" + std::to_string(i) + ".bin"), cifar_records(2, {i}));
  write_bytes(batches / "test_batch.bin", cifar_records(3, {9}));
  std::unique_ptr<Dataset> train = open_dataset("cifar10", dir.string(), Split::train);
  EXPECT_EQ(train->size(), 10);
  EXPECT_EQ(train->label(9), 5);
  EXPECT_EQ(train->class_names()[0], "airplane");
  EXPECT_EQ(train->info().mean, (std::vector<float>{0.4914f, 0.4822f, 0.4465f}));
  EXPECT_EQ(train->get(3).image.at(31, 31)[2], 1 + 2);  // record 1 of data_batch_2, blue plane
  EXPECT_EQ(open_dataset("cifar10", batches.string(), Split::test)->size(), 3);

  write_bytes(dir / "c100" / "train.bin", cifar_records(4, {3, 69}));
  write_bytes(dir / "c100" / "test.bin", cifar_records(1, {3, 99}));
  std::unique_ptr<Dataset> c100 = open_dataset("cifar100", (dir / "c100").string(), Split::train);
  EXPECT_EQ(c100->num_classes(), 100);
  EXPECT_EQ(c100->class_names()[69], "rocket");
  EXPECT_EQ(c100->class_names()[99], "worm");
  EXPECT_EQ(c100->label(0), 69);
  EXPECT_EQ(open_dataset("cifar100", (dir / "c100").string(), Split::test)->label(0), 99);
  expect_input_error([&] { open_dataset("cifar10", (dir / "c100").string(), Split::test); },
                     {(dir / "c100" / "test_batch.bin").string(), "cannot open"});
}

TEST(Data, OpenDatasetErrorsNameWhatIsMissing) {
  const fs::path dir = scratch_dir();
  expect_input_error([&] { open_dataset("imagenet", dir.string(), Split::train); },
                     {"unknown dataset 'imagenet'", "fashion-mnist, mnist, cifar10, cifar100, folder"});
  expect_input_error([&] { open_dataset("mnist", "", Split::train); }, {"mnist", "--data"});
  expect_input_error([&] { open_dataset("mnist", (dir / "nowhere").string(), Split::train); },
                     {(dir / "nowhere").string(), "no such directory"});
  write_idx_pair(dir, "train", 3, 28);
  fs::remove(dir / "train-labels-idx1-ubyte.gz");
  expect_input_error([&] { open_dataset("fashion-mnist", dir.string(), Split::train); },
                     {(dir / "train-labels-idx1-ubyte").string(), "not found"});
  write_idx_pair(dir, "t10k", 3, 20);
  expect_input_error([&] { open_dataset("fashion-mnist", dir.string(), Split::test); },
                     {"20x20", "expected 28x28"});
}

// ----- image folders

TEST(Data, ImageFolderOrdersClassesAndFilesAsTorchvision) {
  const fs::path root = scratch_dir();
  const std::string png = encode_png(random_image(6, 9, 3, 1));
  const std::string jpg = encode_jpeg(random_image(7, 5, 3, 2));
  write_bytes(root / "train" / "zebra" / "b.png", png);
  write_bytes(root / "train" / "zebra" / "a.jpg", jpg);
  write_bytes(root / "train" / "zebra" / "sub" / "c.png", encode_png(random_image(3, 3, 1, 3)));
  write_bytes(root / "train" / "zebra" / "sub-x" / "d.png", encode_png(random_image(4, 4, 4, 4)));
  write_bytes(root / "train" / "zebra" / "sub" / "deep" / "e.png", png);
  write_bytes(root / "train" / "apple" / "X.PNG", png);
  write_bytes(root / "train" / "apple" / "notes.txt", "not an image");
  write_bytes(root / "val" / "zebra" / "v.jpeg", jpg);

  std::unique_ptr<Dataset> train = open_dataset("folder", root.string(), Split::train);
  EXPECT_EQ(train->class_names(), (std::vector<std::string>{"apple", "zebra"}));
  ASSERT_EQ(train->size(), 6);
  // sorted(os.walk(...)): ".../zebra", ".../zebra/sub", ".../zebra/sub-x", ".../zebra/sub/deep" ('-' < '/').
  const std::vector<std::pair<int, int>> expected_sizes = {{6, 9}, {7, 5}, {6, 9}, {3, 3}, {4, 4}, {6, 9}};
  for (int64_t i = 0; i < 6; ++i) {
    const Sample s = train->get(i);
    EXPECT_EQ(s.label, i == 0 ? 0 : 1);
    EXPECT_EQ(s.image.channels, 3) << i;  // gray and RGBA files become RGB
    EXPECT_EQ(std::make_pair(s.image.height, s.image.width), expected_sizes[size_t(i)]) << i;
  }
  EXPECT_EQ(train->info().mean, (std::vector<float>{0.485f, 0.456f, 0.406f}));
  EXPECT_EQ(train->info().image_size, 0);

  std::unique_ptr<Dataset> val = open_dataset("folder", root.string(), Split::test);
  EXPECT_EQ(val->class_names(), train->class_names());
  ASSERT_EQ(val->size(), 1);
  EXPECT_EQ(val->label(0), 1);  // zebra keeps the training label though val/ has no apple/

  std::unique_ptr<Dataset> gray = open_dataset("folder", root.string(), Split::train, {.channels = 1});
  EXPECT_EQ(gray->get(1).image.channels, 1);
  EXPECT_EQ(gray->info().mean.size(), 1u);
}

TEST(Data, ImageFolderRejectsBrokenLayouts) {
  const fs::path root = scratch_dir();
  const std::string png = encode_png(random_image(4, 4, 3, 1));
  expect_input_error([&] { open_dataset("folder", root.string(), Split::train); },
                     {root.string(), "no train/"});
  write_bytes(root / "train" / "cat" / "a.png", png);
  fs::create_directories(root / "train" / "dog");
  expect_input_error([&] { open_dataset("folder", root.string(), Split::train); },
                     {(root / "train" / "dog").string(), "no .jpg, .jpeg or .png files"});
  write_bytes(root / "train" / "dog" / "b.bmp", "BM");
  expect_input_error([&] { open_dataset("folder", root.string(), Split::train); },
                     {(root / "train" / "dog" / "b.bmp").string(), "not supported"});
  fs::remove(root / "train" / "dog" / "b.bmp");
  write_bytes(root / "train" / "dog" / "b.png", png);
  expect_input_error([&] { open_dataset("folder", root.string(), Split::test); }, "no val/ or test/");
  write_bytes(root / "test" / "horse" / "h.png", png);
  expect_input_error([&] { open_dataset("folder", root.string(), Split::test); },
                     {(root / "test" / "horse").string(), "not one of the 2 training classes"});
}

TEST(Data, UndecodableFolderImageFailsItsBatchWithTheFileName) {
  const fs::path root = scratch_dir();
  for (int i = 0; i < 8; ++i) {
    write_bytes(root / "train" / "c" / ("img" + std::to_string(i) + ".png"),
                encode_png(random_image(10, 12, 3, uint32_t(i))));
  }
  const std::string jpeg = encode_jpeg(random_image(10, 12, 3, 9));
  write_bytes(root / "train" / "c" / "img5.png", jpeg.substr(0, jpeg.size() / 2));  // truncated, misnamed
  std::shared_ptr<const Dataset> train = open_dataset("folder", root.string(), Split::train);
  for (int threads : {0, 2}) {
    Loader loader(train, eval_transform(train->info(), 8),
                  {.batch_size = 4, .shuffle = false, .threads = threads});
    loader.start_epoch(0);
    Batch batch;
    ASSERT_TRUE(loader.next(batch));
    EXPECT_EQ(batch.images.shape(), (Shape{4, 8, 8, 3}));
    expect_input_error([&] { loader.next(batch); }, {(root / "train" / "c" / "img5.png").string(), "JPEG"});
    EXPECT_FALSE(loader.next(batch));
  }
}

// ----- transforms against torchvision (fixtures by tests/oracle/make_data_fixtures.py)

class DataOracle : public ::testing::Test {
 protected:
  // ctest runs every test in its own process, possibly in parallel: one fixture directory per process.
  static void SetUpTestSuite() {
    dir_ = test::test_tmp_root() / ("data_oracle_" + std::to_string(::getpid()));
    const fs::path script =
        fs::path(__FILE__).parent_path().parent_path() / "oracle" / "make_data_fixtures.py";
    const std::string command = "/usr/bin/python3 '" + script.string() + "' '" + dir_.string() + "'";
    ok_ = fs::exists("/usr/bin/python3") && std::system(command.c_str()) == 0;
    if (ok_) manifest_ = nlohmann::json::parse(std::ifstream(dir_ / "manifest.json"));
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override {
    if (!ok_) FAIL() << "tests/oracle/make_data_fixtures.py failed (needs /usr/bin/python3 with torchvision)";
  }

  static std::vector<uint8_t> load_u8(const nlohmann::json& entry) {
    const std::string bytes = read_bytes(dir_ / entry["file"].get<std::string>());
    return std::vector<uint8_t>(bytes.begin(), bytes.end());
  }
  static Image load_image(const nlohmann::json& entry) {
    const auto shape = entry["shape"].get<std::vector<int>>();
    Image image(shape[0], shape[1], shape.size() > 2 ? shape[2] : 1);
    image.pixels = load_u8(entry);
    return image;
  }

  static inline fs::path dir_;
  static inline bool ok_ = false;
  static inline nlohmann::json manifest_;
};

TEST_F(DataOracle, DecodesPngAndJpegAsPil) {
  ASSERT_EQ(manifest_["decode"].size(), 10u);
  for (const auto& entry : manifest_["decode"]) {
    const std::string path = (dir_ / entry["image"].get<std::string>()).string();
    const std::string what =
        entry["image"].get<std::string>() + " (" + entry["mode"].get<std::string>() + ")";
    EXPECT_EQ(read_image(path, 3).pixels, load_u8(entry["rgb"])) << what << " as RGB";
    EXPECT_EQ(read_image(path, 1).pixels, load_u8(entry["l"])) << what << " as L";
  }
}

TEST_F(DataOracle, GeometricTransformsEqualTorchvisionOnPil) {
  const Image source = load_image(manifest_["source"]);
  int checked = 0;
  for (const auto& entry : manifest_["transforms"]) {
    const std::string name = entry["name"];
    const auto& p = entry["params"];
    Image ours;
    if (name.starts_with("resize_shorter")) {
      ours = resize_shorter_side(source, p["size"]);
    } else if (name.starts_with("resize_hw")) {
      ours = resize_image(source, p["height"], p["width"]);
    } else if (name.starts_with("center_crop")) {
      ours = center_crop(source, p["size"]);
    } else if (name.starts_with("resized_crop")) {
      ours = resize_image(crop_image(source, p["top"], p["left"], p["height"], p["width"]), p["size"],
                          p["size"]);
    } else if (name.starts_with("crop_outside")) {
      ours = crop_image(source, p["top"], p["left"], p["height"], p["width"]);
    } else if (name == "hflip") {
      ours = flip_horizontal(source);
    } else {
      ADD_FAILURE() << "unknown fixture " << name;
      continue;
    }
    const Image expected = load_image(entry);
    EXPECT_EQ(std::vector<int>({ours.height, ours.width, ours.channels}),
              std::vector<int>({expected.height, expected.width, expected.channels}))
        << name;
    EXPECT_EQ(ours.pixels, expected.pixels) << name;
    ++checked;
  }
  EXPECT_EQ(checked, 12);
}

TEST_F(DataOracle, EvalPipelineEqualsTorchvisionFloats) {
  const Image source = load_image(manifest_["source"]);
  const auto& entry = manifest_["eval_pipeline"];
  DatasetInfo folder;
  folder.mean = entry["params"]["mean"].get<std::vector<float>>();
  folder.std = entry["params"]["std"].get<std::vector<float>>();
  const TransformSpec spec = eval_transform(folder, entry["params"]["size"]);
  const Tensor ours = apply_transform(spec, source, 0);
  const std::string bytes = read_bytes(dir_ / entry["file"].get<std::string>());
  ASSERT_EQ(ours.shape(), (Shape{32, 32, 3}));
  ASSERT_EQ(bytes.size(), ours.nbytes());
  const float* expected = reinterpret_cast<const float*>(bytes.data());
  for (int64_t i = 0; i < ours.numel(); ++i) ASSERT_NEAR(ours.f32()[i], expected[i], 1e-6) << "element " << i;
}

// ----- transforms: recipes and random steps

TEST(Data, TransformRecipesFollowTheReferenceTrainingScripts) {
  DatasetInfo fashion;
  fashion.image_size = 28;
  fashion.mean = {0.2860f};
  fashion.std = {0.3530f};
  TransformSpec train = train_transform(fashion);
  EXPECT_EQ(train.random_crop, 28);
  EXPECT_EQ(train.crop_padding, 4);
  EXPECT_TRUE(train.horizontal_flip);
  EXPECT_EQ(train.resize, 0);
  EXPECT_EQ(train.mean, fashion.mean);
  EXPECT_EQ(train_transform(fashion, 32).resize, 32);
  EXPECT_EQ(eval_transform(fashion).random_crop, 0);
  EXPECT_EQ(eval_transform(fashion).resize, 0);
  DatasetInfo digits = fashion;
  digits.mirror_invariant = false;
  EXPECT_FALSE(train_transform(digits).horizontal_flip);

  DatasetInfo folder;  // image_size 0: images of any size
  EXPECT_EQ(train_transform(folder).random_resized_crop, 224);
  EXPECT_EQ(train_transform(folder).scale_min, 0.08);
  EXPECT_EQ(eval_transform(folder).resize, 256);
  EXPECT_EQ(eval_transform(folder).center_crop, 224);
  EXPECT_EQ(eval_transform(folder, 64).resize, 73);
  EXPECT_EQ(eval_transform(folder, 64).center_crop, 64);
}

TEST(Data, RandomCropPadsWithZerosAndReachesEveryOffset) {
  TransformSpec spec;
  spec.random_crop = 28;
  spec.crop_padding = 4;
  Image coded(28, 28, 2);  // channel 0 encodes the row, channel 1 the column
  for (int y = 0; y < 28; ++y) {
    for (int x = 0; x < 28; ++x) {
      coded.at(y, x)[0] = static_cast<uint8_t>(10 + 8 * y);
      coded.at(y, x)[1] = static_cast<uint8_t>(10 + 8 * x);
    }
  }
  std::set<std::pair<int, int>> offsets;
  for (uint64_t seed = 0; seed < 3000; ++seed) {
    const Tensor out = apply_transform(spec, coded, seed);
    ASSERT_EQ(out.shape(), (Shape{28, 28, 2}));
    const float* v = out.f32();
    const int dy = static_cast<int>(std::lround((v[(14 * 28 + 14) * 2] * 255 - 10) / 8)) - 14;
    const int dx = static_cast<int>(std::lround((v[(14 * 28 + 14) * 2 + 1] * 255 - 10) / 8)) - 14;
    ASSERT_TRUE(std::abs(dy) <= 4 && std::abs(dx) <= 4) << dy << "," << dx;
    for (int y = 0; y < 28; ++y) {
      for (int x = 0; x < 28; ++x) {
        const bool inside = y + dy >= 0 && y + dy < 28 && x + dx >= 0 && x + dx < 28;
        ASSERT_EQ(v[(y * 28 + x) * 2], inside ? coded.at(y + dy, x + dx)[0] / 255.0f : 0.0f);
        ASSERT_EQ(v[(y * 28 + x) * 2 + 1], inside ? coded.at(y + dy, x + dx)[1] / 255.0f : 0.0f);
      }
    }
    offsets.insert({dy, dx});
  }
  EXPECT_EQ(offsets.size(), 81u);
}

TEST(Data, HorizontalFlipHappensHalfTheTime) {
  TransformSpec spec;
  spec.horizontal_flip = true;
  Image ramp(1, 4, 1);
  ramp.pixels = {0, 85, 170, 255};
  int flipped = 0;
  for (uint64_t seed = 0; seed < 2000; ++seed) flipped += apply_transform(spec, ramp, seed).f32()[0] == 1.0f;
  EXPECT_GT(flipped, 900);
  EXPECT_LT(flipped, 1100);
  EXPECT_EQ(flip_horizontal(ramp).pixels, (std::vector<uint8_t>{255, 170, 85, 0}));
}

TEST(Data, RandomResizedCropBoxStaysInsideWithinScaleAndRatio) {
  TransformSpec spec;
  spec.random_resized_crop = 16;
  double min_area = 1, max_area = 0;
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    Rng rng(seed);
    const CropBox box = random_resized_crop_box(60, 100, spec, rng);
    ASSERT_TRUE(box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0);
    ASSERT_TRUE(box.top + box.height <= 60 && box.left + box.width <= 100);
    // Bounds up to the rounding of w and h to whole pixels.
    ASSERT_LE((box.width - 0.5) / (box.height + 0.5), 4.0 / 3.0);
    ASSERT_GE((box.width + 0.5) / (box.height - 0.5), 3.0 / 4.0);
    const double area = double(box.width) * box.height / 6000.0;
    ASSERT_GE(area, 0.07);
    min_area = std::min(min_area, area);
    max_area = std::max(max_area, area);
  }
  EXPECT_LT(min_area, 0.1);
  EXPECT_GT(max_area, 0.75);  // at most 60 x 80 of 60 x 100 fits the ratio range
  // A 1x100 strip: every try fails, the central fallback cuts it to the largest 4/3 box, 1x1.
  Rng rng(0);
  const CropBox strip = random_resized_crop_box(1, 100, spec, rng);
  EXPECT_EQ(std::vector<int>({strip.top, strip.left, strip.height, strip.width}),
            std::vector<int>({0, 49, 1, 1}));
  EXPECT_EQ(apply_transform(spec, random_image(1, 100, 1, 6), 0).shape(), (Shape{16, 16, 1}));
  EXPECT_EQ(apply_transform(spec, random_image(60, 100, 3, 6), 0).shape(), (Shape{16, 16, 3}));
}

TEST(Data, ApplyTransformIsAFunctionOfTheSeed) {
  TransformSpec spec;
  spec.random_resized_crop = 12;
  spec.horizontal_flip = true;
  spec.mean = {0.5f, 0.5f, 0.5f};
  spec.std = {0.25f, 0.25f, 0.25f};
  const Image image = random_image(30, 40, 3, 8);
  const Tensor a = apply_transform(spec, image, 77);
  const Tensor b = apply_transform(spec, image, 77);
  const Tensor c = apply_transform(spec, image, 78);
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.nbytes()), 0);
  EXPECT_NE(std::memcmp(a.data(), c.data(), a.nbytes()), 0);
  spec.mean = {0.5f};
  expect_input_error([&] { apply_transform(spec, image, 0); }, {"1 means", "3-channel"});
}

// ----- loader

TEST(DataLoader, SameBatchesForAnyNumberOfThreads) {
  std::shared_ptr<const Dataset> data = random_dataset(103, 12);
  TransformSpec spec = train_transform(data->info(), 10);
  spec.random_crop = 10;
  std::vector<std::vector<Batch>> runs;
  for (int threads : {0, 1, 3}) {
    Loader loader(data, spec, {.batch_size = 8, .seed = 42, .threads = threads, .prefetch = 2});
    std::vector<Batch> epochs = run_epoch(loader, 0);
    std::vector<Batch> second = run_epoch(loader, 1);
    epochs.insert(epochs.end(), second.begin(), second.end());
    runs.push_back(std::move(epochs));
  }
  expect_same_batches(runs[0], runs[1]);
  expect_same_batches(runs[0], runs[2]);
  EXPECT_NE(runs[0][0].samples, runs[0][13].samples);  // epoch 1 reshuffles
  Loader other_seed(data, spec, {.batch_size = 8, .seed = 43});
  EXPECT_NE(run_epoch(other_seed, 0)[0].samples, runs[0][0].samples);
}

TEST(DataLoader, ResumesAtAnEpochBoundary) {
  std::shared_ptr<const Dataset> data = random_dataset(40, 12);
  const TransformSpec spec = train_transform(data->info());
  Loader straight(data, spec, {.batch_size = 16, .seed = 5});
  run_epoch(straight, 0);
  run_epoch(straight, 1);
  const std::vector<Batch> third = run_epoch(straight, 2);
  Loader resumed(data, spec, {.batch_size = 16, .seed = 5});
  expect_same_batches(run_epoch(resumed, 2), third);
  EXPECT_EQ(resumed.epoch_order(2), straight.epoch_order(2));
}

TEST(DataLoader, VisitsEverySampleOncePerEpochWithDropLastOption) {
  std::shared_ptr<const Dataset> data = random_dataset(103, 6);
  Loader loader(data, eval_transform(data->info()), {.batch_size = 8, .seed = 1});
  EXPECT_EQ(loader.num_batches(), 13);
  const std::vector<Batch> batches = run_epoch(loader, 3);
  ASSERT_EQ(batches.size(), 13u);
  std::vector<int64_t> seen;
  for (const Batch& b : batches) {
    EXPECT_EQ(b.images.dim(0), int64_t(b.labels.size()));
    for (size_t i = 0; i < b.samples.size(); ++i) EXPECT_EQ(b.labels[i], b.samples[i] % 5);
    seen.insert(seen.end(), b.samples.begin(), b.samples.end());
  }
  EXPECT_EQ(batches.back().images.shape(), (Shape{7, 6, 6, 3}));
  EXPECT_EQ(batches[4].index, 4);
  std::sort(seen.begin(), seen.end());
  std::vector<int64_t> all(103);
  std::iota(all.begin(), all.end(), 0);
  EXPECT_EQ(seen, all);

  Loader dropping(data, eval_transform(data->info()), {.batch_size = 8, .drop_last = true, .seed = 1});
  EXPECT_EQ(dropping.num_batches(), 12);
  const std::vector<Batch> kept = run_epoch(dropping, 3);
  ASSERT_EQ(kept.size(), 12u);
  EXPECT_EQ(kept.back().images.dim(0), 8);
}

TEST(DataLoader, NormalizesWithTheDatasetStatistics) {
  std::shared_ptr<const Dataset> data = random_dataset(3, 4);
  Loader loader(data, eval_transform(data->info()), {.batch_size = 3, .shuffle = false, .threads = 1});
  const std::vector<Batch> batches = run_epoch(loader, 0);
  ASSERT_EQ(batches.size(), 1u);
  EXPECT_EQ(batches[0].samples, (std::vector<int64_t>{0, 1, 2}));
  const Image second = data->get(1).image;
  const float* v = batches[0].images.f32() + 4 * 4 * 3;
  for (int i = 0; i < 48; ++i) {
    const float mean[3] = {0.5f, 0.4f, 0.3f}, std[3] = {0.2f, 0.25f, 0.3f};
    ASSERT_FLOAT_EQ(v[i], (second.pixels[size_t(i)] / 255.0f - mean[i % 3]) / std[i % 3]);
  }
}

TEST(DataLoader, SubsetIsTheFirstSamples) {
  std::shared_ptr<const Dataset> data = random_dataset(50, 4);
  Loader ordered(data, eval_transform(data->info()), {.batch_size = 8, .shuffle = false, .subset = 20});
  EXPECT_EQ(ordered.num_samples(), 20);
  EXPECT_EQ(ordered.num_batches(), 3);
  std::vector<int64_t> order = ordered.epoch_order(0);
  std::vector<int64_t> first(20);
  std::iota(first.begin(), first.end(), 0);
  EXPECT_EQ(order, first);
  Loader shuffled(data, eval_transform(data->info()), {.batch_size = 8, .subset = 20});
  order = shuffled.epoch_order(0);
  EXPECT_NE(order, first);
  std::sort(order.begin(), order.end());
  EXPECT_EQ(order, first);
  Loader clamped(data, eval_transform(data->info()), {.subset = 500});
  EXPECT_EQ(clamped.num_samples(), 50);
}

TEST(DataLoader, RestartingAnEpochMidwayStartsItOver) {
  std::shared_ptr<const Dataset> data = random_dataset(64, 5);
  Loader loader(data, train_transform(data->info()), {.batch_size = 4, .seed = 3, .threads = 2});
  loader.start_epoch(0);
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  ASSERT_TRUE(loader.next(batch));
  const std::vector<Batch> full = run_epoch(loader, 0);
  EXPECT_EQ(full.size(), 16u);
  Loader fresh(data, train_transform(data->info()), {.batch_size = 4, .seed = 3, .threads = 0});
  expect_same_batches(full, run_epoch(fresh, 0));
  EXPECT_THROW(Loader(data, {}, {.batch_size = 0}), InputError);
}

TEST(DataLoader, NextBeforeStartEpochIsAnError) {
  std::shared_ptr<const Dataset> data = random_dataset(4, 4);
  Loader loader(data, {}, {});
  Batch batch;
  EXPECT_THROW(loader.next(batch), InternalError);
}

// Counts get() calls and fails on one index, to watch the workers.
class ProbeDataset : public Dataset {
 public:
  ProbeDataset(int64_t size, int64_t bad) : size_(size), bad_(bad) {
    info_.name = "probe";
    info_.class_names = {"x"};
    info_.channels = 1;
    info_.image_size = 2;
  }
  const DatasetInfo& info() const override { return info_; }
  int64_t size() const override { return size_; }
  int64_t label(int64_t) const override { return 0; }
  Sample get(int64_t index) const override {
    ++calls;
    if (index == bad_) throw InputError("probe/" + std::to_string(index) + ".png: PNG: bad data");
    return {solid(2, 2, 1, static_cast<uint8_t>(index)), 0};
  }
  mutable std::atomic<int> calls{0};

 private:
  DatasetInfo info_;
  int64_t size_, bad_;
};

TEST(DataLoader, PrefetchesABoundedNumberOfBatchesAhead) {
  auto probe = std::make_shared<ProbeDataset>(400, -1);
  Loader loader(probe, {}, {.batch_size = 4, .shuffle = false, .threads = 2, .prefetch = 3});
  loader.start_epoch(0);
  auto wait_for = [&](int calls) {
    for (int i = 0; i < 1000 && probe->calls.load() < calls; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return probe->calls.load();
  };
  // Without a single next(), the workers fill 3 batches (12 samples) and stop there.
  EXPECT_EQ(wait_for(12), 12);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(probe->calls.load(), 12);
  Batch batch;
  ASSERT_TRUE(loader.next(batch));
  EXPECT_EQ(wait_for(16), 16);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(probe->calls.load(), 16);
}

TEST(DataLoader, AWorkerErrorFailsOnlyItsBatch) {
  auto probe = std::make_shared<ProbeDataset>(12, 5);
  for (int threads : {0, 1, 3}) {
    Loader loader(probe, {}, {.batch_size = 4, .shuffle = false, .threads = threads});
    loader.start_epoch(0);
    Batch batch;
    ASSERT_TRUE(loader.next(batch));
    EXPECT_EQ(batch.samples, (std::vector<int64_t>{0, 1, 2, 3}));
    expect_input_error([&] { loader.next(batch); }, {"probe/5.png", "bad data"});
    ASSERT_TRUE(loader.next(batch));
    EXPECT_EQ(batch.samples, (std::vector<int64_t>{8, 9, 10, 11}));
    EXPECT_EQ(batch.images.f32()[4], 9 / 255.0f);
    EXPECT_FALSE(loader.next(batch));
  }
}

TEST(DataLoader, RejectsImagesOfDifferentSizesInOneBatch) {
  const fs::path root = scratch_dir();
  write_bytes(root / "train" / "c" / "a.png", encode_png(random_image(5, 5, 3, 1)));
  write_bytes(root / "train" / "c" / "b.png", encode_png(random_image(6, 5, 3, 2)));
  std::shared_ptr<const Dataset> data = open_dataset("folder", root.string(), Split::train);
  Loader loader(data, {}, {.batch_size = 2, .shuffle = false});
  loader.start_epoch(0);
  Batch batch;
  expect_input_error([&] { loader.next(batch); }, {"sample 1 is [6,5,3]", "[5,5,3]"});
}

}  // namespace
}  // namespace resnet
