// `resnet predict` against torchvision + PIL (tests/oracle/make_predict_fixtures.py): skimage's photographs
// in every encoding we read give PIL's preprocessed pixels, and through the tool the model's top-5 classes
// and probabilities; the built-in ImageNet names are torchvision's.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>

#include "parity/fixtures.h"
#include "resnet/data.h"
#include "resnet/predict.h"

namespace resnet::parity {
namespace {

namespace fs = std::filesystem;

// Before Normalize, as a fraction of the pixel range [0, 1]. PNG: exact up to the float rounding of x / 255.
// JPEG: PIL and resnet.cpp both decode with the system's libjpeg-turbo (same IDCT, same upsampling), so the
// decoded pixels agree too; the bound leaves room for a libjpeg-turbo built with other defaults (its SIMD and
// C paths may differ by a level), and docs/CLI.md states it.
constexpr double kPngTolerance = 1.0 / 255 + 1e-6;
constexpr double kJpegTolerance = 2.0 / 255 + 1e-6;
constexpr double kProbabilityTolerance = 1e-3;

std::string predict_dir() {
  return (fs::path(fixtures_dir()) / "predict").string();
}

const nlohmann::json& predictions() {
  static const nlohmann::json j = load_json(fixture_path("predict/predictions.json"));
  return j;
}

// torchvision's Resize(256) + CenterCrop(224) + ToTensor(): no Normalize.
TransformSpec pixels_only() {
  TransformSpec spec;
  spec.resize = 256;
  spec.center_crop = 224;
  return spec;
}

TEST(ParityPredict, PreprocessedPixelsEqualTorchvisionAndPil) {
  SKIP_WITHOUT_FIXTURES();
  for (const nlohmann::json& image : predictions().at("images")) {
    const std::string file = image.at("file").get<std::string>();
    const Tensor ours = load_model_input(fixture_path("predict/" + file), 3, pixels_only());  // [224,224,3]
    const Tensor reference =
        load_fixture_npy("predict/" + image.at("input").get<std::string>());  // [3,224,224]
    ASSERT_EQ(shape_str(ours.shape()), "[224,224,3]") << file;
    ASSERT_EQ(shape_str(reference.shape()), "[3,224,224]") << file;
    double max_diff = 0;
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t i = 0; i < 224 * 224; ++i)
        max_diff = std::max(
            max_diff, std::fabs(double(ours.f32()[i * 3 + c]) - double(reference.f32()[c * 224 * 224 + i])));
    const bool png = image.at("kind") == "png";
    std::printf("[ parity   ] %-28s max |ours - PIL| = %.2f levels\n", file.c_str(), max_diff * 255);
    EXPECT_LE(max_diff, png ? kPngTolerance : kJpegTolerance) << file;
  }
}

// `resnet predict --json` on the fixture folder: every image (the folder walk finds them, skipping the .npy
// and .json files) with torchvision's top-5 classes, in order, and probabilities within 1e-3.
TEST(ParityPredict, ToolGivesTorchvisionTop5OnEveryEncoding) {
  SKIP_WITHOUT_FIXTURES();
  const char* bin = std::getenv("RESNET_BIN");
  ASSERT_NE(bin, nullptr);
  const fs::path out = fs::path(std::getenv("RESNET_TEST_TMP")) / "parity_predict.jsonl";
  fs::create_directories(out.parent_path());
  const std::string command = std::string(bin) + " predict --arch resnet18 --weights " +
                              fixture_path("predict/resnet18.pth") + " --json --batch 7 " + predict_dir() +
                              " >" + out.string();
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << command;

  std::map<std::string, nlohmann::json> ours;
  std::istringstream lines(read_text(out.string()));
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json j = nlohmann::json::parse(line);
    ours[fs::path(j.at("file").get<std::string>()).filename().string()] = j.at("top");
  }
  const nlohmann::json& images = predictions().at("images");
  EXPECT_EQ(ours.size(), images.size());
  double max_probability_diff = 0;
  for (const nlohmann::json& image : images) {
    const std::string file = image.at("file").get<std::string>();
    ASSERT_TRUE(ours.count(file)) << file << " missing from the tool's output";
    const nlohmann::json& top = ours[file];
    ASSERT_EQ(top.size(), 5u) << file;
    for (size_t k = 0; k < 5; ++k) {
      const int64_t expected_class = image.at("top5")[k].get<int64_t>();
      EXPECT_EQ(top[k].at("class").get<int64_t>(), expected_class) << file << " rank " << k;
      const double diff = std::fabs(top[k].at("prob").get<double>() - image.at("probs")[k].get<double>());
      max_probability_diff = std::max(max_probability_diff, diff);
      EXPECT_LE(diff, kProbabilityTolerance) << file << " rank " << k;
      EXPECT_EQ(top[k].at("label").get<std::string>(), imagenet_class_names()[size_t(expected_class)]);
    }
  }
  std::printf("[ parity   ] %zu images: max |p_ours - p_torch| over the top-5 = %.2g\n", images.size(),
              max_probability_diff);
}

TEST(ParityPredict, BuiltInImagenetNamesAreTorchvisions) {
  SKIP_WITHOUT_FIXTURES();
  const std::vector<std::string> torchvision =
      load_json(fixture_path("predict/imagenet_classes.json")).get<std::vector<std::string>>();
  ASSERT_EQ(torchvision.size(), 1000u);
  EXPECT_EQ(imagenet_class_names(), torchvision);
}

}  // namespace
}  // namespace resnet::parity
