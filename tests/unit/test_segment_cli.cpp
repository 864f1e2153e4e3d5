// `resnet segment`: the mask PNG of each image holds, per pixel, the argmax of the logits `resnet infer`
// gives for the same image (decoded, divided by 255, normalised with ImageNet's mean/std, or with the run's
// for weights in a `resnet train` run folder, as NCHW .npy); images of several sizes share a run (grouped by
// size); --size resizes the others; bad inputs are one line each on stderr, the rest still done, exit 2;
// --overlay writes the picture; int8, a classifier --arch and a --size that is not a multiple of 2^depth are
// refused.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "core/rng.h"
#include "io/image.h"
#include "resnet/data.h"
#include "resnet/image.h"
#include "resnet/npy.h"
#include "resnet/unet.h"
#include "resnet/weights.h"
#include "train/checkpoint.h"
#include "unit/cli_test_util.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;

using test::CliResult;

int count_lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

// A U-Net of depth 3 (sides multiples of 8) with 4 classes, seeded weights, and images, in a folder of this
// process.
class SegmentCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const char* tmp = std::getenv("RESNET_TEST_TMP");
    dir_ = fs::path(tmp ? tmp : fs::temp_directory_path().string()) / fmt::format("segment_cli.{}", getpid());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "images");
    UNet model(unet_zoo_config("unet-resnet18", kClasses, 3, kDepth), /*seed=*/7);
    save_safetensors(model.state_dict(), weights());
    write_image("a.png", 32, 48, 1);
    write_image("b.png", 32, 48, 2);  // the same size as a: one batch of two
    write_image("c.jpg", 48, 24, 3);  // another size: its own run
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static constexpr int kClasses = 4, kDepth = 3;
  static std::string weights() { return (dir_ / "unet.safetensors").string(); }
  static std::string image(const std::string& name) { return (dir_ / "images" / name).string(); }
  static std::string model_flags() {
    return fmt::format("--arch unet-resnet18 --weights {} --threads 1", weights());
  }

  static void write_image(const std::string& name, int height, int width, uint64_t seed) {
    Image img(height, width, 3);
    Rng rng(seed);
    for (uint8_t& p : img.pixels) p = static_cast<uint8_t>(rng.uniform01() * 255.0);
    std::ofstream(image(name), std::ios::binary)
        << (name.ends_with(".jpg") ? encode_jpeg(img) : encode_png(img));
  }

  static CliResult resnet(const std::string& args) { return test::run_resnet(args, dir_); }

  // `resnet infer`'s logits [1,K,H,W] of one image, given as NCHW .npy normalised as segment does (by
  // default with ImageNet's statistics, 3 channels).
  static Tensor infer_logits(const std::string& file, const std::string& weights_file = weights(),
                             const DatasetInfo& data = imagenet_info()) {
    const Tensor x = apply_transform(TransformSpec{.mean = data.mean, .std = data.std},
                                     read_image(file, int(data.mean.size())), 0);  // [H,W,C]
    const std::string in = (dir_ / "x.npy").string(), out = (dir_ / "logits.npy").string();
    save_npy(nhwc_to_nchw(x.reshaped({1, x.dim(0), x.dim(1), x.dim(2)})), in);
    const CliResult r =
        resnet(fmt::format("infer --arch unet-resnet18 --encoder-depth {} --num-classes {} "
                           "--in-channels {} --weights {} --input-npy {} --output-npy {} "
                           "--threads 1",
                           kDepth, kClasses, x.dim(2), weights_file, in, out));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return load_npy(out);
  }

  // The mask PNG holds the argmax of the logits [1,K,H,W] at every pixel whose top two logits are not within
  // 1e-4 (batch 1 vs a larger batch: rounding may decide a near tie; those must be rare).
  static void expect_argmax(const Tensor& logits, const std::string& mask_png) {
    const Image mask = read_index_png(mask_png);
    ASSERT_EQ(mask.height, logits.dim(2)) << mask_png;
    ASSERT_EQ(mask.width, logits.dim(3)) << mask_png;
    const int64_t pixels = logits.dim(2) * logits.dim(3);
    int64_t near_ties = 0, differ = 0;
    for (int64_t p = 0; p < pixels; ++p) {
      int best = 0;
      float first = -INFINITY, second = -INFINITY;
      for (int c = 0; c < kClasses; ++c) {
        const float v = logits.f32()[c * pixels + p];
        if (v > first) {
          second = first;
          first = v;
          best = c;
        } else {
          second = std::max(second, v);
        }
      }
      if (first - second < 1e-4f) {
        ++near_ties;
        continue;
      }
      differ += mask.pixels[size_t(p)] != best;
    }
    EXPECT_EQ(differ, 0) << mask_png;
    EXPECT_LT(near_ties, pixels / 100) << mask_png;
  }

  static fs::path dir_;
};

fs::path SegmentCli::dir_;

TEST_F(SegmentCli, MasksAreTheArgmaxOfInferLogits) {
  const fs::path out = dir_ / "masks";
  const CliResult r = resnet(fmt::format("segment {} --batch 3 --out {} {} {} {}", model_flags(),
                                         out.string(), image("a.png"), image("b.png"), image("c.jpg")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), 3) << r.out;
  for (const char* name : {"a.png", "b.png", "c.jpg"})
    expect_argmax(infer_logits(image(name)), (out / (fs::path(name).stem().string() + ".png")).string());
}

// A 1-channel model in a `resnet train` run folder: the images are read as "L" and normalised with the run's
// statistics; the same weights outside a run folder have no statistics (exit 2).
TEST_F(SegmentCli, RunFolderGivesTheNormalisationOfAOneChannelModel) {
  const fs::path run = dir_ / "run";
  fs::create_directories(run);
  UNet model(unet_zoo_config("unet-resnet18", kClasses, 1, kDepth), /*seed=*/8);
  const std::string run_weights = (run / "best.safetensors").string();
  save_safetensors(model.state_dict(), run_weights);
  TrainConfig config;
  config.arch = "unet-resnet18";
  DatasetInfo data{.name = "scenes",
                   .class_names = {"background", "a", "b", "c"},
                   .channels = 1,
                   .image_size = 32,
                   .mean = {0.3f},
                   .std = {0.2f}};
  write_run_config(RunFiles(run.string()), config, data);

  const fs::path out = dir_ / "run_masks";
  const CliResult r =
      resnet(fmt::format("segment --arch unet-resnet18 --weights {} --threads 1 --overlay "
                         "--out {} {}",
                         run_weights, out.string(), image("a.png")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_argmax(infer_logits(image("a.png"), run_weights, data), (out / "a.png").string());
  EXPECT_TRUE(fs::exists(out / "a_overlay.png"));

  const std::string elsewhere = (dir_ / "no_run.safetensors").string();
  fs::copy_file(run_weights, elsewhere, fs::copy_options::overwrite_existing);
  const CliResult no_run = resnet(fmt::format("segment --arch unet-resnet18 --weights {} --out {} {}",
                                              elsewhere, out.string(), image("a.png")));
  EXPECT_EQ(no_run.exit_code, 2);
  EXPECT_EQ(count_lines(no_run.err), 1) << no_run.err;
}

TEST_F(SegmentCli, BadInputsAreOneLineEachAndTheRestIsStillDone) {
  const fs::path bad = dir_ / "bad";
  fs::create_directories(bad / "empty");
  std::ofstream(bad / "not_an_image.png") << "not a png";
  write_image("odd.png", 30, 32, 4);  // 30 is not a multiple of 8
  const fs::path out = dir_ / "bad_out";
  const CliResult r = resnet(fmt::format("segment {} --out {} {} {} {} {} {}", model_flags(), out.string(),
                                         (bad / "not_an_image.png").string(), (bad / "missing.png").string(),
                                         image("odd.png"), (bad / "empty").string(), image("a.png")));
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 4) << r.err;
  EXPECT_NE(r.err.find("not_an_image.png"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing.png"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("odd.png: 30x32 is not a multiple of 8"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--size"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("empty"), std::string::npos) << r.err;
  // The good image is done, and nothing else is in the folder (no partial or temporary files).
  std::vector<std::string> written;
  for (const auto& entry : fs::directory_iterator(out)) written.push_back(entry.path().filename().string());
  EXPECT_EQ(written, std::vector<std::string>{"a.png"});
}

TEST_F(SegmentCli, SizeResizesOtherSizesAndOverlayIsDrawn) {
  write_image("odd2.png", 30, 20, 5);
  const fs::path out = dir_ / "resized";
  const CliResult r = resnet(fmt::format("segment {} --size 16 --overlay --dtype bf16 --out {} {}",
                                         model_flags(), out.string(), image("odd2.png")));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Image mask = read_index_png((out / "odd2.png").string());
  EXPECT_EQ(mask.height, 16);
  EXPECT_EQ(mask.width, 16);
  const Image overlay = read_image((out / "odd2_overlay.png").string());
  EXPECT_EQ(overlay.channels, 3);
  EXPECT_GE(overlay.height, 224);  // scaled up to a shorter side of at least 224, legend beside
  EXPECT_GT(overlay.width, overlay.height);
}

TEST_F(SegmentCli, RefusesInt8AClassifierAndASizeNotAMultipleOfTwoToTheDepth) {
  const std::string out = (dir_ / "refused").string();
  for (const std::string& flags :
       {fmt::format("{} --dtype int8", model_flags()), fmt::format("{} --size 20", model_flags()),
        fmt::format("--arch resnet18 --weights {}", weights())}) {
    const CliResult r = resnet(fmt::format("segment {} --out {} {}", flags, out, image("a.png")));
    EXPECT_EQ(r.exit_code, 2) << flags;
    EXPECT_EQ(count_lines(r.err), 1) << flags << ": " << r.err;
  }
}

TEST_F(SegmentCli, InferRefusesASizeNotAMultipleOfTwoToTheDepth) {
  const std::string in = (dir_ / "x30.npy").string();
  save_npy(Tensor::zeros({1, 3, 30, 32}), in);
  for (const char* path : {"", " --no-fuse"}) {
    const CliResult r =
        resnet(fmt::format("infer --arch unet-resnet18 --encoder-depth {} --num-classes {} --weights {} "
                           "--input-npy {}{}",
                           kDepth, kClasses, weights(), in, path));
    EXPECT_EQ(r.exit_code, 2) << path;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("multiples of 8"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace resnet
