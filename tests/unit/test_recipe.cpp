// Issue 18 without an oracle: the plain networks (same layers, parameters and init as the ResNets, no
// shortcut), RandomErasing's box rules, a run with every recipe flag resuming bit for bit, and the
// degradation experiment's folders, CSVs and figure.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "core/rng.h"
#include "data/random_erasing.h"
#include "models/blocks.h"
#include "resnet/image.h"
#include "resnet/plan.h"
#include "resnet/weights.h"
#include "resnet/zoo.h"
#include "train_test_helpers.h"

namespace resnet::test {
namespace {

namespace fs = std::filesystem;

TEST(PlainNetworks, HaveTheResNetsLayersParametersAndInit) {
  for (const std::string depth : {"20", "32", "44", "56", "110"}) {
    ResNet plain(zoo_config("plain" + depth, 10, 1), 3), residual(zoo_config("resnet" + depth, 10, 1), 3);
    const StateDict a = plain.state_dict(), b = residual.state_dict();
    ASSERT_EQ(a.size(), b.size()) << depth;
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(a[i].name, b[i].name);
      ASSERT_EQ(a[i].tensor.nbytes(), b[i].tensor.nbytes()) << a[i].name;
      EXPECT_EQ(std::memcmp(a[i].tensor.data(), b[i].tensor.data(), a[i].tensor.nbytes()), 0) << a[i].name;
    }
    EXPECT_EQ(plain.parameter_count(), residual.parameter_count());
  }
}

TEST(PlainNetworks, BlocksHaveNoShortcutAndNoJoin) {
  ResNet plain(zoo_config("plain20", 10, 1), 3);
  int blocks = 0;
  for (Module* stage : plain.children()) {
    for (Module* child : stage->children()) {
      auto* block = dynamic_cast<ResidualBlock*>(child);
      if (block == nullptr) continue;
      ++blocks;
      EXPECT_EQ(block->structure().shortcut, ShortcutKind::none) << block->path();
      EXPECT_EQ(block->structure().shortcut_module(), nullptr);
    }
  }
  EXPECT_EQ(blocks, 9);
  // One block by hand: out = relu(bn2(conv2(relu(bn1(conv1(x)))))) -- the same as its ResNet twin minus x.
  Tensor x({2, 28, 28, 1});
  Rng rng(5);
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = float(rng.normal());
  plain.set_training(false);
  ResNet residual(zoo_config("resnet20", 10, 1), 3);
  residual.set_training(false);
  const Tensor a = plain.forward(x), b = residual.forward(x);
  double differs = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) differs += std::abs(a.f32()[i] - b.f32()[i]);
  EXPECT_GT(differs, 1e-3);  // same weights, different function: the shortcut is really gone
  plain.set_training(true);
  const Tensor y = plain.forward(x);
  const Tensor dx = plain.backward(Tensor::zeros(y.shape()));
  EXPECT_EQ(dx.shape(), x.shape());
}

// The inference plan lowers a plain block as its convolutions with no join: the same logits as forward().
TEST(PlainNetworks, InferencePlanGivesTheLayerByLayerLogits) {
  ResNet plain(zoo_config("plain20", 10, 1), 4);
  plain.set_training(false);
  Tensor x({3, 28, 28, 1});
  Rng rng(6);
  for (int64_t i = 0; i < x.numel(); ++i) x.f32()[i] = float(rng.normal());
  const Tensor expected = plain.forward(x);
  const Tensor logits = InferencePlan::compile(plain, Precision::f32, x.shape()).run(x);
  ASSERT_EQ(logits.shape(), expected.shape());
  for (int64_t i = 0; i < logits.numel(); ++i) EXPECT_NEAR(logits.f32()[i], expected.f32()[i], 1e-3) << i;
}

TEST(RandomErasing, BoxesFollowTorchvisionsScaleRatioAndBounds) {
  Rng rng(11);
  int boxes = 0;
  for (int i = 0; i < 2000; ++i) {
    const EraseBox box = random_erasing_box(28, 28, rng);
    if (box.height == 0) continue;
    ++boxes;
    EXPECT_LT(box.height, 28);
    EXPECT_LT(box.width, 28);
    EXPECT_GE(box.top, 0);
    EXPECT_GE(box.left, 0);
    EXPECT_LE(box.top + box.height, 28);
    EXPECT_LE(box.left + box.width, 28);
    // The area fraction before rounding is in [0.02, 0.33]: after rounding each side by at most 0.5.
    const double area = double(box.height) * box.width / (28.0 * 28.0);
    EXPECT_GE(area, 0.02 * 0.5) << box.height << "x" << box.width;
    EXPECT_LE(area, 0.45) << box.height << "x" << box.width;
  }
  EXPECT_GT(boxes, 1900);
}

TEST(RandomErasing, ZeroesOneBoxInEveryChannelWithProbabilityP) {
  int erased = 0;
  for (uint64_t seed = 0; seed < 200; ++seed) {
    std::vector<float> image(16 * 16 * 3, 1.0f);
    Rng rng(seed);
    random_erase(image.data(), 16, 16, 3, 0.5, rng);
    int zeros = 0;
    for (float v : image) zeros += v == 0.0f;
    EXPECT_EQ(zeros % 3, 0);
    erased += zeros > 0;
  }
  EXPECT_GT(erased, 70);
  EXPECT_LT(erased, 130);
  std::vector<float> image(16 * 16, 1.0f);
  Rng rng(1);
  random_erase(image.data(), 16, 16, 1, 0.0, rng);
  for (float v : image) EXPECT_EQ(v, 1.0f);
}

// 64 training and 32 test images 28x28 with four classes by bright quadrant, as Fashion-MNIST's IDX files.
std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}
void write_idx(const fs::path& dir, const std::string& prefix, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string images = std::string{0, 0, 8, 3} + be32(uint32_t(n)) + be32(28) + be32(28);
  std::string labels = std::string{0, 0, 8, 1} + be32(uint32_t(n));
  for (int i = 0; i < n; ++i) {
    const int label = i % 4, top = label / 2 * 14, left = label % 2 * 14;
    for (int y = 0; y < 28; ++y) {
      for (int x = 0; x < 28; ++x) {
        const bool inside = y >= top && y < top + 14 && x >= left && x < left + 14;
        images += char(uint8_t(rng() % 96 + (inside ? 150 : 0)));
      }
    }
    labels += char(label);
  }
  std::ofstream(dir / (prefix + "-images-idx3-ubyte"), std::ios::binary) << images;
  std::ofstream(dir / (prefix + "-labels-idx1-ubyte"), std::ios::binary) << labels;
}
fs::path idx_dataset(const fs::path& dir) {
  fs::create_directories(dir);
  write_idx(dir, "train", 64, 1);
  write_idx(dir, "t10k", 32, 2);
  return dir;
}

TrainConfig recipe_config(const fs::path& data, const fs::path& out) {
  TrainConfig c;
  c.arch = "resnet20";
  c.dataset = "fashion-mnist";
  c.data_dir = data.string();
  c.epochs = 2;
  c.batch_size = 16;
  c.lr = 0.05;
  c.threads = 1;
  c.seed = 9;
  c.ema = 0.9;
  c.ema_steps = 2;
  c.mixup = 0.2;
  c.cutmix = 1.0;
  c.random_erasing = 0.5;
  c.auto_augment = "ta_wide";
  c.label_smoothing = 0.1;
  c.out_dir = out.string();
  return resolve_train_config(c);
}

TEST(RecipeTraining, EveryFlagTogetherResumesBitForBitAndRecordsEma) {
  const fs::path dir = fresh_test_dir("recipe");
  const fs::path data = idx_dataset(dir / "data");
  std::ostringstream log;
  TrainHooks hooks = quiet_hooks(log);
  const TrainSummary full = train(recipe_config(data, dir / "straight"), hooks);
  ASSERT_TRUE(full.finished);
  TrainHooks stop_after_one = hooks;
  stop_after_one.on_epoch_end = [](const EpochMetrics&) { return false; };
  TrainConfig b = recipe_config(data, dir / "interrupted");
  train(b, stop_after_one);
  b.resume = true;
  const TrainSummary second = train(b, hooks);
  ASSERT_TRUE(second.finished);
  for (const char* file : {"last.safetensors", "best.safetensors"}) {
    EXPECT_TRUE(read_bytes(dir / "straight" / file) == read_bytes(dir / "interrupted" / file)) << file;
  }
  const StateDict sa = load_safetensors((dir / "straight" / "state.safetensors").string());
  const StateDict sb = load_safetensors((dir / "interrupted" / "state.safetensors").string());
  ASSERT_EQ(sa.size(), sb.size());
  int ema_tensors = 0;
  for (size_t i = 0; i < sa.size(); ++i) {
    if (sa[i].name == "run.json") continue;
    ema_tensors += sa[i].name.starts_with("ema.");
    ASSERT_EQ(sa[i].tensor.nbytes(), sb[i].tensor.nbytes()) << sa[i].name;
    EXPECT_EQ(std::memcmp(sa[i].tensor.data(), sb[i].tensor.data(), sa[i].tensor.nbytes()), 0) << sa[i].name;
  }
  EXPECT_GT(ema_tensors, 10);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(full.history[e].train_loss, second.history[e].train_loss);
    EXPECT_EQ(full.history[e].ema_test_acc, second.history[e].ema_test_acc);
    ASSERT_TRUE(full.history[e].ema_test_acc.has_value());
  }
  const std::vector<std::string> rows = lines_of(read_bytes(dir / "straight" / "metrics.csv"));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds,ema_test_loss,ema_test_acc");
  const std::vector<EpochMetrics> back = read_metrics_csv((dir / "straight" / "metrics.csv").string());
  ASSERT_EQ(back.size(), 2u);
  EXPECT_TRUE(back[1].ema_test_acc.has_value());
  const std::string config = read_bytes(dir / "straight" / "config.json");
  for (const char* key : {"\"ema\"", "\"ema_steps\"", "\"mixup\"", "\"cutmix\"", "\"random_erasing\"",
                          "\"auto_augment\": \"ta_wide\""}) {
    EXPECT_NE(config.find(key), std::string::npos) << key;
  }
  EXPECT_NE(read_bytes(dir / "straight" / "state.json").find("\"best_weights\""), std::string::npos);
}

TEST(RecipeTraining, BadRecipeFlagsAreOneLineErrors) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = fresh_test_dir("recipe");
  for (const std::string flags :
       {"--ema 1.5", "--mixup -1", "--random-erasing 2", "--auto-augment aa", "--ema-steps 0"}) {
    const CliResult r = run_resnet(
        "train --arch resnet20 --dataset fashion-mnist --out " + (dir / "run").string() + " " + flags, dir);
    EXPECT_EQ(r.exit_code, 2) << flags;
    EXPECT_NE(r.err.find(flags.substr(0, flags.find(' '))), std::string::npos) << r.err;
  }
}

// The count of pixels of exactly `rgb` in columns [x0, x1) of a decoded PNG.
int64_t count_color(const Image& png, int x0, int x1, const std::array<uint8_t, 3>& rgb) {
  int64_t n = 0;
  for (int y = 0; y < png.height; ++y) {
    for (int x = x0; x < x1; ++x) {
      const uint8_t* p = png.at(y, x);
      n += p[0] == rgb[0] && p[1] == rgb[1] && p[2] == rgb[2];
    }
  }
  return n;
}

TEST(DegradationExperiment, TrainsEachNetworkInItsRunFolderAndDrawsBothPanels) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = fresh_test_dir("recipe");
  const fs::path data = idx_dataset(dir / "data");
  const fs::path out = dir / "experiment";
  const std::string args =
      "experiment degradation --dataset fashion-mnist --data " + data.string() +
      " --depths 20,32 --epochs 1 --subset 48 --test-subset 16 --threads 1 --quiet --out " + out.string();
  const CliResult r = run_resnet(args, dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* name : {"plain20", "resnet20", "plain32", "resnet32"}) {
    EXPECT_TRUE(fs::exists(out / name / "state.safetensors")) << name;
    const std::vector<EpochMetrics> m = read_metrics_csv((out / name / "metrics.csv").string());
    EXPECT_EQ(m.size(), 1u) << name;
    EXPECT_NE(read_bytes(out / name / "config.json").find(std::string("\"arch\": \"") + name),
              std::string::npos);
  }
  EXPECT_NE(r.out.find("plain-32"), std::string::npos) << r.out;
  const Image png = read_image((out / "degradation.png").string(), 3);
  ASSERT_EQ(png.width, 1280);
  // Depth 20 in matplotlib's blue, depth 32 in its orange, in both panels.
  for (const auto& color : {std::array<uint8_t, 3>{31, 119, 180}, std::array<uint8_t, 3>{255, 127, 14}}) {
    EXPECT_GT(count_color(png, 0, 640, color), 20) << int(color[0]) << " left";
    EXPECT_GT(count_color(png, 640, 1280, color), 20) << int(color[0]) << " right";
  }
  // Run again: every network is finished, nothing retrains, the figure is redrawn.
  const CliResult again = run_resnet(args, dir);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("already"), std::string::npos) << again.out;
}

TEST(DegradationExperiment, RefusesADepthWithoutAPlainTwin) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = fresh_test_dir("recipe");
  const CliResult r = run_resnet("experiment degradation --depths 20,18 --out " + (dir / "x").string(), dir);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--depths 18"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "x"));
}

}  // namespace
}  // namespace resnet::test
