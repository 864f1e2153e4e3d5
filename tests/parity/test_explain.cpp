// `resnet explain` against PyTorch's hook-based Grad-CAM (tests/oracle/make_explain_fixtures.py): the map
// before colouring (--out-npy) equals the float64 reference for layer4 and layer3, the top-1 and a given
// class; the library's grad_cam() on a 1-channel model at every stage down to the stem; the picture has the
// input's size; bad input is one stderr line and exit status 2.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "parity/fixtures.h"
#include "resnet/grad_cam.h"
#include "resnet/load_state_dict.h"
#include "resnet/weights.h"

namespace resnet::parity {
namespace {

namespace fs = std::filesystem;

// Of the map's range [0,1]: float32 through resnet18 against float64 (measured: ~5e-6).
constexpr double kCamTolerance = 1e-4;

const nlohmann::json& cases() {
  static const nlohmann::json j = load_json(fixture_path("explain/explain.json")).at("cases");
  return j;
}

fs::path temp_dir() {
  const fs::path dir = fs::path(std::getenv("RESNET_TEST_TMP")) / "parity_explain";
  fs::create_directories(dir);
  return dir;
}

struct ToolRun {
  int status = -1;
  std::string stdout_text, stderr_text;
};

ToolRun run_explain(const std::string& args, const std::string& name) {
  const fs::path out = temp_dir() / (name + ".stdout"), err = temp_dir() / (name + ".stderr");
  const std::string command = std::string(std::getenv("RESNET_BIN")) + " explain " + args + " >" +
                              out.string() + " 2>" + err.string();
  const int status = std::system(command.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_text(out.string()), read_text(err.string())};
}

double max_abs_difference(const Tensor& a, const Tensor& b) {
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::fabs(double(a.f32()[i]) - b.f32()[i]));
  return worst;
}

void expect_cam_equals_reference(const Tensor& ours, const nlohmann::json& c) {
  const std::string name = c.at("name").get<std::string>();
  const Tensor reference = load_fixture_npy("explain/" + c.at("cam").get<std::string>());
  ASSERT_EQ(shape_str(ours.shape()), shape_str(reference.shape())) << name;
  const double diff = max_abs_difference(ours, reference);
  std::printf("[ parity   ] %-26s max |ours - torch| = %.2e\n", name.c_str(), diff);
  EXPECT_LE(diff, kCamTolerance) << name;
}

// PNG: width and height are the big-endian words at bytes 16 and 20 (IHDR).
std::pair<int, int> png_size(const std::string& path) {
  const std::string bytes = read_text(path);
  if (bytes.size() < 24 || bytes.compare(1, 3, "PNG") != 0) return {0, 0};
  auto word = [&](size_t at) {
    int v = 0;
    for (size_t i = 0; i < 4; ++i) v = v << 8 | static_cast<unsigned char>(bytes[at + i]);
    return v;
  };
  return {word(16), word(20)};
}

TEST(ParityExplain, ToolCamEqualsPytorchGradCam) {
  SKIP_WITHOUT_FIXTURES();
  int checked = 0;
  for (const nlohmann::json& c : cases()) {
    if (!c.contains("image")) continue;
    const std::string name = c.at("name").get<std::string>();
    const fs::path npy = temp_dir() / (name + ".npy"), png = temp_dir() / (name + ".png");
    fs::remove(npy);
    fs::remove(png);
    std::string args = "--arch resnet18 --weights " +
                       fixture_path("explain/" + c.at("weights").get<std::string>()) + " --layer " +
                       c.at("layer").get<std::string>() + " --out " + png.string() + " --out-npy " +
                       npy.string() + " " + fixture_path("explain/" + c.at("image").get<std::string>());
    if (!c.at("class").is_null()) args += " --class " + std::to_string(c.at("class").get<int>());
    const ToolRun run = run_explain(args, name);
    ASSERT_EQ(run.status, 0) << args << "\n" << run.stderr_text;
    EXPECT_NE(run.stdout_text.find("(class " + std::to_string(c.at("class_used").get<int>()) + ","),
              std::string::npos)
        << run.stdout_text;
    expect_cam_equals_reference(load_npy(npy.string()), c);
    const std::vector<int> size = c.at("size").get<std::vector<int>>();  // [H,W]
    EXPECT_EQ(png_size(png.string()), std::make_pair(size[1], size[0])) << png;
    ++checked;
  }
  EXPECT_GE(checked, 6);
}

TEST(ParityExplain, LibraryCamOnOneChannelModelEqualsPytorch) {
  SKIP_WITHOUT_FIXTURES();
  ResNet model(zoo_config("resnet18", 10, 1), 0, Init::none);
  load_state_dict(model, load_weights(fixture_path("explain/resnet18_1ch_10cls.pth")), true, "fixture");
  const Tensor x = load_fixture_npy("explain/gray64.input.npy");  // [1,64,64,1]
  int checked = 0;
  for (const nlohmann::json& c : cases()) {
    if (!c.contains("input")) continue;
    const int64_t klass = c.at("class").is_null() ? -1 : c.at("class").get<int64_t>();
    const GradCam g = grad_cam(model, x, {.layer = c.at("layer").get<std::string>(), .class_index = klass});
    EXPECT_EQ(g.class_index, c.at("class_used").get<int64_t>());
    EXPECT_NEAR(g.probability, c.at("prob").get<double>(), 1e-5);
    expect_cam_equals_reference(g.cam, c);
    ++checked;
  }
  EXPECT_GE(checked, 6);
  EXPECT_FALSE(model.is_training());
  EXPECT_FALSE(model.keeps_for_backward());  // back to plain eval
}

// Bad input: one line on stderr naming what is wrong, exit status 2, nothing written.
TEST(ParityExplain, BadInputIsOneErrorLineAndStatus2) {
  SKIP_WITHOUT_FIXTURES();
  const std::string model = "--arch resnet18 --weights " + fixture_path("explain/resnet18.pth");
  const std::string image = fixture_path("explain/chelsea.png");
  const fs::path out = temp_dir() / "bad.png";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {model + " --out " + out.string() + " " + (temp_dir() / "missing.png").string(), "missing.png"},
      {model + " --layer layer5 --out " + out.string() + " " + image, "--layer layer5"},
      {model + " --class 1000 --out " + out.string() + " " + image, "--class 1000"},
      {model + " --class -2 --out " + out.string() + " " + image, "--class -2"},
  };
  int index = 0;
  for (const auto& [args, names] : bad) {
    fs::remove(out);
    const ToolRun run = run_explain(args, "bad" + std::to_string(index++));
    EXPECT_EQ(run.status, 2) << args;
    EXPECT_TRUE(run.stderr_text.starts_with("resnet: error: ")) << run.stderr_text;
    EXPECT_EQ(std::count(run.stderr_text.begin(), run.stderr_text.end(), '\n'), 1) << run.stderr_text;
    EXPECT_NE(run.stderr_text.find(names), std::string::npos) << run.stderr_text;
    EXPECT_FALSE(fs::exists(out)) << args;
  }
}

}  // namespace
}  // namespace resnet::parity
