// `resnet train --task segmentation` as users rely on it: a U-Net run writes metrics.csv with test_miou,
// class_iou.csv and a config.json that records the task; it learns; a resumed run equals the uninterrupted
// one; --init-weights puts a classifier into the encoder; --freeze backbone leaves the encoder untouched; bad
// flags are one line and exit 2. Small: unet-resnet18 at 64x64 on 64 training and 32 test scenes.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "resnet/data.h"
#include "resnet/error.h"
#include "resnet/model.h"
#include "resnet/segmentation_data.h"
#include "resnet/train.h"
#include "resnet/unet.h"
#include "resnet/weights.h"
#include "resnet/zoo.h"
#include "unit/state_dict_util.h"
#include "unit/train_test_helpers.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::CliResult;
using test::find_tensor;
using test::lines_of;
using test::quiet_hooks;
using test::read_bytes;
using test::run_resnet;

const char* const kFashionMnist = "/usr/share/datasets/fashion-mnist";

#define REQUIRE_FASHION_MNIST()         \
  if (!fs::is_directory(kFashionMnist)) \
  GTEST_SKIP() << kFashionMnist         \
               << " is missing "        \
                  "(scripts/bootstrap.sh installs it)"

fs::path scratch(const std::string& name = "") {
  return test::fresh_test_dir("segtrain", name);
}

TrainConfig scenes_config(const fs::path& out) {
  TrainConfig c;
  c.task = "segmentation";
  c.arch = "unet-resnet18";
  c.dataset = "fashion-mnist-scenes";
  c.subset = 64;
  c.test_subset = 32;
  c.epochs = 2;
  c.batch_size = 16;
  c.optimizer = "adamw";
  c.lr = 3e-3;
  c.threads = 1;
  c.workers = 2;
  c.seed = 5;
  c.out_dir = out.string();
  return resolve_train_config(c);
}

// Bitwise equality of two tensors' bytes.
bool same_bytes(const Tensor& a, const Tensor& b) {
  return a.nbytes() == b.nbytes() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

// side x side gray scenes: a bright left half is class 1, the rest class 0.
class HalvesDataset : public SegmentationDataset {
 public:
  HalvesDataset(int side, int64_t count) : side_(side), count_(count) {
    info_.name = "halves";
    info_.class_names = {"dark", "bright"};
    info_.channels = 1;
    info_.image_size = side;
    info_.mean = {0.5f};
    info_.std = {0.5f};
  }
  const DatasetInfo& info() const override { return info_; }
  int ignore_index() const override { return kDefaultIgnoreIndex; }
  int64_t size() const override { return count_; }
  SegmentationSample get(int64_t index) const override {
    SegmentationSample s{Image(side_, side_, 1), Image(side_, side_, 1)};
    for (int y = 0; y < side_; ++y) {
      for (int x = 0; x < side_; ++x) {
        const bool bright = x < side_ / 2;
        *s.image.at(y, x) = uint8_t(bright ? 200 + index % 50 : index % 50);
        *s.mask.at(y, x) = bright ? 1 : 0;
      }
    }
    return s;
  }

 private:
  int side_;
  int64_t count_;
  DatasetInfo info_;
};

// ----- files

TEST(SegmentationTrain, WritesMetricsWithMiouClassIouAndTheTaskInConfig) {
  REQUIRE_FASHION_MNIST();
  const fs::path out = scratch();
  std::ostringstream log;
  const TrainSummary s = train(scenes_config(out), quiet_hooks(log));
  ASSERT_EQ(s.history.size(), 2u);
  ASSERT_TRUE(s.history[0].test_miou.has_value());

  const std::vector<std::string> rows = lines_of(read_bytes(out / "metrics.csv"));
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0], "epoch,train_loss,train_acc,test_loss,test_acc,test_miou,lr,seconds");
  EXPECT_EQ(std::count(rows[2].begin(), rows[2].end(), ','), 7);
  const std::vector<EpochMetrics> back = read_metrics_csv((out / "metrics.csv").string());
  ASSERT_EQ(back.size(), 2u);
  EXPECT_NEAR(*back[1].test_miou, *s.history[1].test_miou, 1e-6);

  const std::vector<std::string> iou = lines_of(read_bytes(out / "class_iou.csv"));
  ASSERT_EQ(iou.size(), 3u);
  EXPECT_EQ(iou[0],
            "epoch,background,T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot");
  EXPECT_TRUE(iou[1].starts_with("1,")) << iou[1];
  EXPECT_EQ(std::count(iou[2].begin(), iou[2].end(), ','), 11);

  const json config = json::parse(read_bytes(out / "config.json"));
  EXPECT_EQ(config.at("task"), "segmentation");
  EXPECT_EQ(config.at("loss"), "ce");
  EXPECT_EQ(config.at("ignore_index"), 255);
  EXPECT_EQ(config.at("encoder_depth"), 5);
  EXPECT_EQ(config.at("decoder_channels"), json({256, 128, 64, 32, 16}));
  EXPECT_EQ(config.at("dataset_info").at("class_names").size(), 11u);
  EXPECT_EQ(config.at("dataset_info").at("channels"), 1);
  const json state = json::parse(read_bytes(out / "state.json"));
  EXPECT_EQ(state.at("best_epoch"), s.best_epoch);
  EXPECT_DOUBLE_EQ(state.at("best_test_miou").get<double>(), *s.history[size_t(s.best_epoch - 1)].test_miou);

  // smp's names, the head with the dataset's 11 classes.
  const StateDict best = load_safetensors((out / "best.safetensors").string());
  EXPECT_EQ(find_tensor(best, "segmentation_head.0.weight")->tensor.shape(), (Shape{11, 16, 3, 3}));
  EXPECT_NE(find_tensor(best, "encoder.conv1.weight"), nullptr);
  EXPECT_TRUE(fs::exists(out / "curves.png"));
  EXPECT_NE(log.str().find("mIoU"), std::string::npos) << log.str();
}

// ----- learning

TEST(SegmentationTrain, LossFallsAndMiouRisesOverEpochs) {
  REQUIRE_FASHION_MNIST();
  const fs::path out = scratch();
  std::ostringstream log;
  TrainConfig c = scenes_config(out);
  c.epochs = 4;
  const TrainSummary s = train(c, quiet_hooks(log));
  ASSERT_EQ(s.history.size(), 4u);
  EXPECT_LT(s.history.back().train_loss, s.history.front().train_loss) << log.str();
  EXPECT_GT(*s.history.back().test_miou, *s.history.front().test_miou) << log.str();
}

TEST(SegmentationTrain, ResumedRunEqualsTheUninterruptedRun) {
  REQUIRE_FASHION_MNIST();
  std::ostringstream log;
  const TrainHooks hooks = quiet_hooks(log);
  const fs::path straight = scratch("straight"), interrupted = scratch("interrupted");
  const TrainSummary full = train(scenes_config(straight), hooks);
  ASSERT_EQ(full.history.size(), 2u);

  TrainConfig b = scenes_config(interrupted);
  TrainHooks stop_after_one = hooks;
  stop_after_one.on_epoch_end = [](const EpochMetrics&) { return false; };
  EXPECT_FALSE(train(b, stop_after_one).finished);
  b.resume = true;
  const TrainSummary second = train(b, hooks);
  ASSERT_EQ(second.first_epoch, 2);
  ASSERT_EQ(second.history.size(), 2u);

  EXPECT_TRUE(read_bytes(straight / "last.safetensors") == read_bytes(interrupted / "last.safetensors"));
  EXPECT_TRUE(read_bytes(straight / "class_iou.csv") == read_bytes(interrupted / "class_iou.csv"));
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(full.history[e].train_loss, second.history[e].train_loss);
    EXPECT_EQ(full.history[e].train_acc, second.history[e].train_acc);
    EXPECT_EQ(full.history[e].test_loss, second.history[e].test_loss);
    EXPECT_EQ(*full.history[e].test_miou, *second.history[e].test_miou);
    EXPECT_EQ(full.history[e].class_iou, second.history[e].class_iou);
  }
}

// ----- transfer learning

TEST(SegmentationTrain, InitWeightsFromAClassifierLoadsTheEncoder) {
  REQUIRE_FASHION_MNIST();
  const fs::path dir = scratch();
  // A 3-channel ImageNet-style classifier's weights, torchvision names.
  ResNet classifier(zoo_config("resnet18", 10, 3), 99);
  const std::string file = (dir / "resnet18.safetensors").string();
  save_safetensors(classifier.state_dict(), file);

  std::ostringstream log;
  TrainConfig c = scenes_config(dir / "run");
  c.init_weights = file;
  c.epochs = 1;
  c.lr_backbone = 0.0;  // the encoder keeps what it loaded (but BN statistics move)
  train(c, quiet_hooks(log));
  EXPECT_NE(log.str().find("init: 120 tensors loaded from resnet18.safetensors; encoder.conv1.weight adapted "
                           "(3 -> 1 channels); fc.weight, fc.bias dropped (no classifier)"),
            std::string::npos)
      << log.str();
  const json config = json::parse(read_bytes(dir / "run" / "config.json"));
  EXPECT_TRUE(config.at("init").get<std::string>().starts_with("init: 120 tensors")) << config.dump();

  const StateDict last = load_safetensors((dir / "run" / "last.safetensors").string());
  const StateDict original = classifier.state_dict();
  EXPECT_TRUE(same_bytes(find_tensor(last, "encoder.layer4.1.conv2.weight")->tensor,
                         find_tensor(original, "layer4.1.conv2.weight")->tensor));
}

// side x side one-channel images of four classes (a bright quadrant each), for a classification run.
std::shared_ptr<const Dataset> quadrants(int n, int side) {
  ImageArray a;
  a.count = n;
  a.height = a.width = side;
  a.channels = 1;
  for (int i = 0; i < n; ++i) {
    const int label = i % 4;
    for (int y = 0; y < side; ++y) {
      for (int x = 0; x < side; ++x) {
        const bool inside = (y < side / 2) == (label < 2) && (x < side / 2) == (label % 2 == 0);
        a.pixels.push_back(uint8_t(inside ? 220 : 20 + i % 7));
      }
    }
    a.labels.push_back(label);
  }
  DatasetInfo info;
  info.name = "quadrants";
  info.class_names = {"a", "b", "c", "d"};
  info.channels = 1;
  info.image_size = side;
  info.mean = {0.3f};
  info.std = {0.3f};
  return make_memory_dataset(std::move(a), info);
}

TEST(SegmentationTrain, InitWeightsFromAClassificationRunFolderAndFromAUnetFile) {
  REQUIRE_FASHION_MNIST();
  const fs::path dir = scratch();
  // A one-channel resnet18 classification run.
  std::ostringstream log;
  TrainConfig cls;
  cls.arch = "resnet18";
  cls.dataset = "fashion-mnist";
  cls.epochs = 1;
  cls.batch_size = 8;
  cls.threads = 1;
  cls.out_dir = (dir / "classifier").string();
  TrainHooks hooks = quiet_hooks(log);
  hooks.train_set = quadrants(16, 32);
  hooks.test_set = quadrants(8, 32);
  train(resolve_train_config(cls), hooks);

  TrainConfig c = scenes_config(dir / "from-run");
  c.init_weights = (dir / "classifier").string();
  c.epochs = 1;
  train(c, quiet_hooks(log));
  EXPECT_NE(
      log.str().find("init: 120 tensors loaded from classifier; fc.weight, fc.bias dropped (no classifier)"),
      std::string::npos)
      << log.str();

  // A U-Net's own weights load as a whole, the head included.
  TrainConfig whole = scenes_config(dir / "from-unet");
  whole.init_weights = (dir / "from-run" / "last.safetensors").string();
  whole.epochs = 1;
  whole.lr = 1e-9;  // (almost) nothing moves: the head stays the file's
  std::ostringstream log2;
  train(whole, quiet_hooks(log2));
  EXPECT_NE(log2.str().find("from last.safetensors (a U-Net: encoder, decoder and head)"), std::string::npos)
      << log2.str();
  const StateDict file = load_safetensors(whole.init_weights);
  const StateDict after = load_safetensors((dir / "from-unet" / "last.safetensors").string());
  const Tensor& head_before = find_tensor(file, "segmentation_head.0.bias")->tensor;
  const Tensor& head_after = find_tensor(after, "segmentation_head.0.bias")->tensor;
  for (int64_t k = 0; k < head_before.numel(); ++k)
    EXPECT_NEAR(head_after.f32()[k], head_before.f32()[k], 1e-6);
}

TEST(SegmentationTrain, FrozenBackboneKeepsTheEncoderBitwise) {
  REQUIRE_FASHION_MNIST();
  const fs::path out = scratch();
  std::ostringstream log;
  TrainConfig c = scenes_config(out);
  c.freeze = "backbone";
  c.epochs = 1;
  train(c, quiet_hooks(log));

  UNet fresh(unet_zoo_config(c.arch, 11, 1, 5), c.seed);
  const StateDict before = fresh.state_dict();
  const StateDict after = load_safetensors((out / "last.safetensors").string());
  int encoder = 0, decoder_changed = 0;
  for (const NamedTensor& t : before) {
    const NamedTensor* trained = find_tensor(after, t.name);
    ASSERT_NE(trained, nullptr) << t.name;
    if (t.name.starts_with("encoder.")) {
      ++encoder;
      EXPECT_TRUE(same_bytes(t.tensor, trained->tensor)) << t.name;
    } else if (t.name.ends_with(".weight")) {
      decoder_changed += same_bytes(t.tensor, trained->tensor) ? 0 : 1;
    }
  }
  EXPECT_GT(encoder, 100);
  EXPECT_GT(decoder_changed, 5);
}

// ----- command line

TEST(SegmentationTrainCli, BadFlagsAreOneLineExit2) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  // A folder-seg tree of 70x70 images: not a multiple of 32.
  const fs::path odd = dir / "odd";
  write_segmentation_split(HalvesDataset(70, 4), (odd / "train").string());
  write_segmentation_split(HalvesDataset(70, 2), (odd / "test").string());

  const std::string out = (dir / "out").string();
  const std::string base = "train --threads 1 --out " + out + " --task segmentation ";
  const std::string scenes = "--arch unet-resnet18 --dataset fashion-mnist-scenes ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {base + scenes + "--loss foo", "foo"},
      {base + "--arch resnet18 --dataset fashion-mnist-scenes", "U-Net"},
      {"train --threads 1 --out " + out + " --arch unet-resnet18 --dataset fashion-mnist",
       "--task segmentation"},
      {base + "--arch unet-resnet18 --dataset fashion-mnist", "fashion-mnist"},
      {base + "--arch unet-resnet18 --dataset folder-seg --data " + odd.string(), "multiples of 32"},
      {base + scenes + "--image-size 70", "multiples of 32"},
      {base + scenes + "--encoder-depth 6", "--encoder-depth"},
      {base + scenes + "--encoder-depth 4 --decoder-channels 64,32", "--decoder-channels"},
      {base + scenes + "--ignore-index 300", "--ignore-index"},
      {base + scenes + "--label-smoothing 0.1", "--label-smoothing"},
      {base + scenes + "--stem cifar", "--stem"},
      {"train --threads 1 --out " + out + " --arch resnet18 --dataset fashion-mnist --loss dice", "--loss"},
      {"train --threads 1 --out " + out + " --task detection --arch resnet18 --dataset fashion-mnist",
       "--task"},
  };
  for (const auto& [args, expected] : cases) {
    const CliResult r = run_resnet(args, dir);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << args << "\n" << r.err;
    EXPECT_FALSE(fs::exists(out)) << args;
  }
}

TEST(SegmentationTrainCli, TrainsAndPrintsTheBestMiou) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const fs::path data = dir / "halves";
  write_segmentation_split(HalvesDataset(32, 8), (data / "train").string());
  write_segmentation_split(HalvesDataset(32, 4), (data / "test").string());
  const std::string out = (dir / "out").string();
  const CliResult r = run_resnet(
      "train --quiet --threads 1 --task segmentation --arch unet-resnet18 --dataset "
      "folder-seg --data " +
          data.string() + " --epochs 1 --batch-size 4 --loss ce+dice --out " + out,
      dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("best test mIoU"), std::string::npos) << r.out;
  EXPECT_EQ(lines_of(read_bytes(fs::path(out) / "class_iou.csv"))[0], "epoch,0,1");
  const json config = json::parse(read_bytes(fs::path(out) / "config.json"));
  EXPECT_EQ(config.at("loss"), "ce+dice");

  // --resume takes the run's flags (the task's own too) and refuses changed ones.
  const CliResult again = run_resnet("train --quiet --out " + out + " --resume", dir);
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("had already finished"), std::string::npos) << again.out;
  const CliResult other = run_resnet("train --quiet --out " + out + " --resume --loss dice", dir);
  EXPECT_EQ(other.exit_code, 2) << other.err;
  EXPECT_NE(other.err.find("--loss \"dice\" (the run has \"ce+dice\")"), std::string::npos) << other.err;
}

}  // namespace
}  // namespace resnet

namespace resnet {
namespace {

TEST(SegmentationTrainCli, BenchTrainTimesAUnetStep) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const CliResult r = run_resnet(
      "bench --train --arch unet-resnet18 --size 32 --batch 2 --in-channels 1 --num-classes 11 --iters 1 "
      "--warmup 0 --threads 1 --json",
      dir);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j.at("arch"), "unet-resnet18");
  EXPECT_EQ(j.at("num_classes"), 11);
  EXPECT_EQ(j.at("in_channels"), 1);
  EXPECT_GT(j.at("images_per_sec").get<double>(), 0.0);
  EXPECT_TRUE(std::isfinite(j.at("final_loss").get<double>()));

  const CliResult odd = run_resnet("bench --train --arch unet-resnet18 --size 40 --batch 2 --iters 1", dir);
  EXPECT_EQ(odd.exit_code, 2) << odd.err;
  EXPECT_NE(odd.err.find("multiples of 32"), std::string::npos) << odd.err;
}

}  // namespace
}  // namespace resnet
