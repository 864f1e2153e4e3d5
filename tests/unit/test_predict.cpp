// `resnet predict` without the torchvision oracle: the top-k arithmetic, bad files (one stderr line each, the
// others still classified, exit 2), and a `resnet train` run folder's 1-channel model with its dataset's
// normalisation and class names.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "io/image.h"
#include "parsers/parser_test_util.h"
#include "parsers/png_bytes.h"
#include "resnet/data.h"
#include "resnet/model.h"
#include "resnet/predict.h"
#include "resnet/train.h"
#include "resnet/weights.h"
#include "resnet/zoo.h"
#include "train/checkpoint.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;
using test::be32;
using test::png_chunk;
using test::read_bytes;
using test::scratch_dir;
using test::write_bytes;
using test::zlib_stored;

struct ToolRun {
  int exit_code;
  std::string out, err;
};

ToolRun run_resnet(const std::string& args, const fs::path& dir) {
  const std::string id = std::to_string(getpid());
  const fs::path out = dir / ("stdout." + id), err = dir / ("stderr." + id);
  const std::string command =
      std::string(std::getenv("RESNET_BIN")) + " " + args + " >" + out.string() + " 2>" + err.string();
  const int status = std::system(command.c_str());
  return {WEXITSTATUS(status), read_bytes(out), read_bytes(err)};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// A smooth colour picture.
Image picture(int height, int width) {
  Image image(height, width, 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c) image.at(y, x)[c] = uint8_t((x * 5 + y * 3 + c * 70) % 256);
  return image;
}

TEST(Predict, TopClassesAreTheSoftmaxsLargestInOrder) {
  const float logits[4] = {1.0f, 3.0f, 2.0f, 3.0f};
  const std::vector<ClassScore> top = top_classes(logits, 4, 3, {"a", "b", "c", "d"});
  ASSERT_EQ(top.size(), 3u);
  const double sum = std::exp(1.0) + 2 * std::exp(3.0) + std::exp(2.0);
  EXPECT_EQ(top[0].index, 1);  // a tie keeps the lower index first
  EXPECT_EQ(top[1].index, 3);
  EXPECT_EQ(top[2].index, 2);
  EXPECT_EQ(top[2].label, "c");
  EXPECT_NEAR(top[0].probability, std::exp(3.0) / sum, 1e-12);
  EXPECT_NEAR(top[2].probability, std::exp(2.0) / sum, 1e-12);
  EXPECT_EQ(top_classes(logits, 4, 9, {}).size(), 4u);  // k larger than the class count
  EXPECT_EQ(top_classes(logits, 4, 1, {})[0].label, "1");
}

// Good and bad files in one folder plus a dangling link given by name: every bad one gets exactly one stderr
// line naming it, the good ones are classified, and the exit status is 2.
TEST(Predict, BadFilesAreReportedOneLineEachAndTheOthersStillPredicted) {
  const fs::path dir = scratch_dir();
  const fs::path images = dir / "images";
  fs::create_directories(images);
  ResNet model(zoo_config("resnet18", 10), /*seed=*/3);
  save_safetensors(model.state_dict(), (dir / "model.safetensors").string());

  const std::string jpeg = encode_jpeg(picture(60, 80), 90);
  write_bytes(images / "a_good.JPG", jpeg);
  write_bytes(images / "b_good.png", encode_png(picture(90, 70)));
  write_bytes(images / "truncated.jpg", jpeg.substr(0, jpeg.size() / 2));
  write_bytes(images / "zero.jpeg", "");
  write_bytes(images / "text.png", "not a picture, only words\n");
  const std::string ihdr = be32(100000) + be32(100000) + std::string{8, 2, 0, 0, 0};
  write_bytes(images / "huge.png", std::string("\x89PNG\r\n\x1a\n", 8) + png_chunk("IHDR", ihdr) +
                                       png_chunk("IDAT", zlib_stored(std::string(64, '\0'))) +
                                       png_chunk("IEND", ""));
  write_bytes(images / "notes.txt", "skipped: not an image name");
  fs::create_symlink(dir / "nowhere.jpg", dir / "gone.jpg");  // unreadable (root reads any mode bits)

  const ToolRun r =
      run_resnet("predict --arch resnet18 --weights " + (dir / "model.safetensors").string() +
                     " --json --top-k 3 --batch 2 " + images.string() + " " + (dir / "gone.jpg").string(),
                 dir);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  const std::vector<std::string> out = lines_of(r.out);
  ASSERT_EQ(out.size(), 2u) << r.out;
  const nlohmann::json first = nlohmann::json::parse(out[0]);
  EXPECT_EQ(first.at("file"), (images / "a_good.JPG").string());
  EXPECT_EQ(nlohmann::json::parse(out[1]).at("file"), (images / "b_good.png").string());
  ASSERT_EQ(first.at("top").size(), 3u);
  EXPECT_EQ(first.at("top")[0].at("label"), std::to_string(first.at("top")[0].at("class").get<int>()));

  const std::vector<std::string> err = lines_of(r.err);
  const std::vector<std::pair<std::string, std::string>> expected = {{"huge.png", "100000x100000"},
                                                                     {"text.png", "not a JPEG or PNG"},
                                                                     {"truncated.jpg", "JPEG"},
                                                                     {"zero.jpeg", "empty"},
                                                                     {"gone.jpg", "cannot open"}};
  ASSERT_EQ(err.size(), expected.size()) << r.err;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NE(err[i].find(expected[i].first), std::string::npos) << err[i];
    EXPECT_NE(err[i].find(expected[i].second), std::string::npos) << err[i];
  }
}

// --labels FILE: one name per line (a trailing newline and Windows line ends are fine), as many as classes;
// --labels imagenet needs 1000 classes. A wrong count is one line naming the source, exit 2.
TEST(Predict, LabelsFileNamesTheClassesAndMustMatchTheirCount) {
  const fs::path dir = scratch_dir();
  ResNet model(zoo_config("resnet18", 3), /*seed=*/4);
  save_safetensors(model.state_dict(), (dir / "model.safetensors").string());
  write_bytes(dir / "photo.jpg", encode_jpeg(picture(40, 40), 90));
  write_bytes(dir / "names.txt", "red fox\r\ngrey wolf\r\narctic hare\r\n");
  write_bytes(dir / "two.txt", "red fox\ngrey wolf\n");
  const std::string base = "predict --arch resnet18 --weights " + (dir / "model.safetensors").string() + " ";
  const std::string photo = " " + (dir / "photo.jpg").string();

  const ToolRun named = run_resnet(base + "--json --labels " + (dir / "names.txt").string() + photo, dir);
  ASSERT_EQ(named.exit_code, 0) << named.err;
  const nlohmann::json top = nlohmann::json::parse(named.out).at("top");
  ASSERT_EQ(top.size(), 3u);  // --top-k 5 of 3 classes
  const std::vector<std::string> names = {"red fox", "grey wolf", "arctic hare"};
  for (const nlohmann::json& entry : top)
    EXPECT_EQ(entry.at("label").get<std::string>(), names[entry.at("class").get<size_t>()]);

  for (const std::string& labels : {(dir / "two.txt").string(), std::string("imagenet")}) {
    const ToolRun wrong = run_resnet(base + "--labels " + labels + photo, dir);
    EXPECT_EQ(wrong.exit_code, 2) << labels;
    EXPECT_EQ(lines_of(wrong.err).size(), 1u) << wrong.err;
    EXPECT_NE(wrong.err.find("--labels " + labels), std::string::npos) << wrong.err;
    EXPECT_NE(wrong.err.find("3 classes"), std::string::npos) << wrong.err;
  }
}

// A run folder of `resnet train` on Fashion-MNIST: the weights' config.json gives the stem (cifar), the
// normalisation and the class names; a colour photo becomes PIL's "L" image, resized to the 28 pixels the
// model learnt from. The tool's top-3 equals the library's eval-mode forward on the same pixels.
TEST(Predict, RunFolderGivesAOneChannelModelItsNormalisationAndNames) {
  const fs::path dir = scratch_dir();
  const fs::path run = dir / "run";
  fs::create_directories(run);
  DatasetInfo info;
  info.name = "fashion-mnist";
  info.class_names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  info.channels = 1;
  info.image_size = 28;
  info.mean = {0.2860f};
  info.std = {0.3530f};
  TrainConfig config;
  config.arch = "resnet18";
  config.dataset = "fashion-mnist";
  config.stem = "cifar";
  config.out_dir = run.string();
  write_run_config(RunFiles(run.string()), config, info);
  ResNet model(model_config_for("resnet18", "cifar", info), /*seed=*/5);
  model.set_training(false);
  save_safetensors(model.state_dict(), (run / "best.safetensors").string());
  write_bytes(dir / "photo.png", encode_png(picture(56, 84)));

  TransformSpec spec;
  spec.resize = 28;
  spec.center_crop = 28;
  spec.mean = info.mean;
  spec.std = info.std;
  Tensor x = load_model_input((dir / "photo.png").string(), 1, spec);
  EXPECT_EQ(shape_str(x.shape()), "[28,28,1]");
  const Tensor logits = model.forward(x.reshaped({1, 28, 28, 1}));
  const std::vector<ClassScore> expected = top_classes(logits.f32(), 10, 3, info.class_names);

  const ToolRun r = run_resnet("predict --arch resnet18 --weights " + (run / "best.safetensors").string() +
                                   " --json --top-k 3 " + (dir / "photo.png").string(),
                               dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json top = nlohmann::json::parse(r.out).at("top");
  ASSERT_EQ(top.size(), 3u);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(top[k].at("class").get<int64_t>(), expected[k].index);
    EXPECT_EQ(top[k].at("label").get<std::string>(), expected[k].label);
    EXPECT_NEAR(top[k].at("prob").get<double>(), expected[k].probability, 1e-4);
  }

  // The text form: the file, then one aligned line per class: probability, class number, name.
  const ToolRun text = run_resnet("predict --arch resnet18 --weights " + (run / "best.safetensors").string() +
                                      " --top-k 2 " + (dir / "photo.png").string(),
                                  dir);
  ASSERT_EQ(text.exit_code, 0) << text.err;
  const std::vector<std::string> lines = lines_of(text.out);
  ASSERT_EQ(lines.size(), 3u) << text.out;
  EXPECT_EQ(lines[0], (dir / "photo.png").string());
  EXPECT_EQ(lines[1],
            fmt::format("  {:.4f}  {}  {}", expected[0].probability, expected[0].index, expected[0].label));
}

}  // namespace
}  // namespace resnet
