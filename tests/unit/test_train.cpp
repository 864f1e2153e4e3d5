// Training and evaluation as users rely on them: a resumed run ends with the same bytes as an uninterrupted
// one, a kill at any moment leaves a loadable checkpoint, diverging runs stop and keep the last good epoch,
// a small model memorises 256 Fashion-MNIST images, and `resnet train` / `resnet eval` keep their file and
// command-line contracts.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "resnet/data.h"
#include "resnet/error.h"
#include "resnet/train.h"
#include "resnet/weights.h"
#include "unit/state_dict_util.h"
#include "unit/train_test_helpers.h"

extern char** environ;

namespace resnet {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test::CliResult;
using test::find_tensor;
using test::lines_of;
using test::quiet_hooks;
using test::read_bytes;
using test::resnet_bin;
using test::run_resnet;

// ----- helpers

// A fresh folder for the current test under $RESNET_TEST_TMP/train.
fs::path scratch(const std::string& name = "") {
  return test::fresh_test_dir("train", name);
}

// Four classes of side x side gray images: noise, plus a bright square in the class's quadrant.
ImageArray quadrant_images(int n, int side, uint32_t seed) {
  ImageArray a;
  a.count = n;
  a.height = a.width = side;
  a.channels = 1;
  std::mt19937 rng(seed);
  for (int i = 0; i < n; ++i) {
    const int label = i % 4;
    const int top = label / 2 * side / 2, left = label % 2 * side / 2;
    for (int y = 0; y < side; ++y) {
      for (int x = 0; x < side; ++x) {
        const bool inside =
            y >= top + 1 && y < top + side / 2 - 1 && x >= left + 1 && x < left + side / 2 - 1;
        a.pixels.push_back(uint8_t(rng() % 96 + (inside ? 150 : 0)));
      }
    }
    a.labels.push_back(label);
  }
  return a;
}

std::shared_ptr<const Dataset> quadrant_dataset(int n, int side, uint32_t seed) {
  DatasetInfo info;
  info.name = "quadrants";
  info.class_names = {"top-left", "top-right", "bottom-left", "bottom-right"};
  info.channels = 1;
  info.image_size = side;
  info.mean = {0.3f};
  info.std = {0.3f};
  info.mirror_invariant = false;
  return make_memory_dataset(quadrant_images(n, side, seed), info);
}

std::string be32(uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

// Uncompressed IDX files as Fashion-MNIST ships them (28x28, labels 0..9), with the quadrant pattern.
void write_idx_split(const fs::path& dir, const std::string& prefix, int n, uint32_t seed) {
  const ImageArray a = quadrant_images(n, 28, seed);
  std::string images = std::string{0, 0, 8, 3} + be32(uint32_t(n)) + be32(28) + be32(28);
  images.append(a.pixels.begin(), a.pixels.end());
  std::string labels = std::string{0, 0, 8, 1} + be32(uint32_t(n));
  for (int64_t label : a.labels) labels += char(label);
  std::ofstream(dir / (prefix + "-images-idx3-ubyte"), std::ios::binary) << images;
  std::ofstream(dir / (prefix + "-labels-idx1-ubyte"), std::ios::binary) << labels;
}

fs::path idx_dataset(const fs::path& dir, int train = 64, int test = 32) {
  fs::create_directories(dir);
  write_idx_split(dir, "train", train, 1);
  write_idx_split(dir, "t10k", test, 2);
  return dir;
}

TrainConfig small_config(const fs::path& out) {
  TrainConfig c;
  c.arch = "resnet20";
  c.dataset = "fashion-mnist";
  c.epochs = 2;
  c.batch_size = 16;
  c.lr = 0.05;
  c.threads = 1;
  c.workers = 2;
  c.seed = 7;
  c.out_dir = out.string();
  return resolve_train_config(c);
}

CliResult resnet_cli(const std::string& args) {
  return run_resnet(args, scratch("cli"));
}

size_t count_lines(const std::string& s) {
  return size_t(std::count(s.begin(), s.end(), '\n'));
}

// Width and height from a PNG's IHDR chunk; {0, 0} if the bytes are not a PNG.
std::pair<uint32_t, uint32_t> png_size(const std::string& bytes) {
  if (bytes.size() < 24 || bytes.compare(0, 8, "\x89PNG\r\n\x1a\n") != 0 ||
      bytes.compare(12, 4, "IHDR") != 0) {
    return {0, 0};
  }
  auto be = [&](size_t at) {
    return uint32_t(uint8_t(bytes[at])) << 24 | uint32_t(uint8_t(bytes[at + 1])) << 16 |
           uint32_t(uint8_t(bytes[at + 2])) << 8 | uint32_t(uint8_t(bytes[at + 3]));
  };
  return {be(16), be(20)};
}

std::vector<fs::path> temp_leftovers(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().find(".tmp.") != std::string::npos) out.push_back(entry.path());
  }
  return out;
}

// ----- resume

TEST(Train, ResumedRunEqualsTheUninterruptedRunBitForBit) {
  const auto train_set = quadrant_dataset(72, 16, 1), test_set = quadrant_dataset(24, 16, 2);
  std::ostringstream log;
  TrainHooks hooks = quiet_hooks(log);
  hooks.train_set = train_set;
  hooks.test_set = test_set;

  const fs::path straight = scratch("straight"), interrupted = scratch("interrupted");
  TrainConfig a = small_config(straight);  // augmentation on: random crops and order must repeat too
  const TrainSummary full = train(a, hooks);
  ASSERT_TRUE(full.finished);
  ASSERT_EQ(full.history.size(), 2u);

  TrainConfig b = small_config(interrupted);
  TrainHooks stop_after_one = hooks;
  stop_after_one.on_epoch_end = [](const EpochMetrics&) { return false; };
  const TrainSummary first = train(b, stop_after_one);
  EXPECT_FALSE(first.finished);
  EXPECT_EQ(first.history.size(), 1u);

  b.resume = true;
  const TrainSummary second = train(b, hooks);
  EXPECT_TRUE(second.finished);
  EXPECT_EQ(second.first_epoch, 2);
  ASSERT_EQ(second.history.size(), 2u);

  for (const char* file : {"last.safetensors", "best.safetensors"}) {
    EXPECT_TRUE(read_bytes(straight / file) == read_bytes(interrupted / file)) << file << " differs";
  }
  // The optimizer's momentum buffers too (the state files differ only in wall times and paths).
  const StateDict sa = load_safetensors((straight / "state.safetensors").string());
  const StateDict sb = load_safetensors((interrupted / "state.safetensors").string());
  ASSERT_EQ(sa.size(), sb.size());
  int buffers = 0;
  for (size_t i = 0; i < sa.size(); ++i) {
    ASSERT_EQ(sa[i].name, sb[i].name);
    if (sa[i].name == "run.json") continue;
    buffers += sa[i].name.ends_with(".momentum_buffer");
    ASSERT_EQ(sa[i].tensor.nbytes(), sb[i].tensor.nbytes()) << sa[i].name;
    EXPECT_EQ(std::memcmp(sa[i].tensor.data(), sb[i].tensor.data(), sa[i].tensor.nbytes()), 0) << sa[i].name;
  }
  EXPECT_GT(buffers, 0);
  for (size_t e = 0; e < 2; ++e) {
    EXPECT_EQ(full.history[e].train_loss, second.history[e].train_loss);
    EXPECT_EQ(full.history[e].test_acc, second.history[e].test_acc);
    EXPECT_EQ(full.history[e].lr, second.history[e].lr);
  }
}

TEST(Train, WritesMetricsCurvesConfigAndStateFiles) {
  const fs::path out = scratch();
  std::ostringstream log;
  TrainHooks hooks = quiet_hooks(log);
  hooks.train_set = quadrant_dataset(40, 16, 3);
  hooks.test_set = quadrant_dataset(20, 16, 4);
  TrainConfig c = small_config(out);
  c.epochs = 3;
  const TrainSummary s = train(c, hooks);

  const std::vector<std::string> rows = lines_of(read_bytes(out / "metrics.csv"));
  ASSERT_EQ(rows.size(), 4u);
  EXPECT_EQ(rows[0], "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds");
  EXPECT_TRUE(rows[1].starts_with("1,")) << rows[1];
  EXPECT_TRUE(rows[3].starts_with("3,")) << rows[3];
  EXPECT_EQ(std::count(rows[2].begin(), rows[2].end(), ','), 6);

  EXPECT_EQ(png_size(read_bytes(out / "curves.png")), std::make_pair(1280u, 560u));
  const json config = json::parse(read_bytes(out / "config.json"));
  EXPECT_EQ(config.at("arch"), "resnet20");
  EXPECT_EQ(config.at("epochs"), 3);
  EXPECT_EQ(config.at("lr"), 0.05);
  EXPECT_EQ(config.at("wd"), 5e-4);  // the CIFAR-style default
  const json state = json::parse(read_bytes(out / "state.json"));
  EXPECT_EQ(state.at("epochs_done"), 3);
  EXPECT_EQ(state.at("step"), 3 * 3);  // 40 images in batches of 16
  EXPECT_EQ(state.at("best_epoch"), s.best_epoch);

  // The weights are a torchvision state_dict with the run's metadata.
  const StateDict last = load_safetensors((out / "last.safetensors").string());
  EXPECT_NE(find_tensor(last, "conv1.weight"), nullptr);
  EXPECT_NE(find_tensor(last, "layer3.2.bn2.running_var"), nullptr);
  EXPECT_EQ(find_tensor(last, "fc.weight")->tensor.shape(), (Shape{4, 64}));
  EXPECT_TRUE(temp_leftovers(out).empty());
  EXPECT_EQ(lines_of(log.str()).size(), 3u) << log.str();
}

TEST(Train, RefusesToOverwriteARunAndToResumeWithoutOneOrWithOtherFlags) {
  const fs::path out = scratch();
  std::ostringstream log;
  TrainHooks hooks = quiet_hooks(log);
  hooks.train_set = quadrant_dataset(32, 16, 5);
  hooks.test_set = quadrant_dataset(8, 16, 6);
  TrainConfig c = small_config(out);
  c.epochs = 1;

  TrainConfig resume = c;
  resume.resume = true;
  try {
    train(resume, hooks);
    FAIL() << "resumed without a checkpoint";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("no checkpoint to resume"), std::string::npos) << e.what();
  }

  train(c, hooks);
  const std::string before = read_bytes(out / "state.safetensors");
  EXPECT_THROW(train(c, hooks), InputError);  // a fresh run into a finished one

  TrainConfig other = resume;
  other.lr = 0.2;
  try {
    train(other, hooks);
    FAIL() << "resumed with another lr";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--lr 0.2 (the run has 0.05)"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(read_bytes(out / "state.safetensors") == before) << "the rejected resume changed the state";
}

// ----- divergence

TEST(Train, DivergingRunStopsAndKeepsTheLastGoodCheckpoint) {
  const fs::path out = scratch();
  std::ostringstream log;
  TrainHooks hooks = quiet_hooks(log);
  hooks.train_set = quadrant_dataset(32, 16, 7);
  hooks.test_set = quadrant_dataset(8, 16, 8);
  // Weight decay with lr * wd = 4 multiplies every weight by about -3 per step: the eval-mode activations
  // grow by 9 per layer and step until they overflow. One step per epoch, so some epochs complete first.
  TrainConfig c = small_config(out);
  c.epochs = 30;
  c.lr = 4.0;
  c.weight_decay = 1.0;
  c.momentum = 0.0;
  c.schedule = "constant";
  c.max_steps_per_epoch = 1;
  try {
    train(c, hooks);
    FAIL() << "the run did not diverge:\n" << log.str();
  } catch (const TrainingDiverged& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("training diverged in epoch"), std::string::npos) << message;
    EXPECT_NE(message.find("kept the checkpoint of epoch"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  const json state = json::parse(read_bytes(out / "state.json"));
  const int64_t kept = state.at("epochs_done").get<int64_t>();
  EXPECT_GE(kept, 1);
  EXPECT_EQ(lines_of(read_bytes(out / "metrics.csv")).size(), size_t(kept + 1));
  for (const NamedTensor& t : load_safetensors((out / "last.safetensors").string())) {
    if (t.tensor.dtype() != DType::f32) continue;
    const float* p = t.tensor.f32();
    for (int64_t i = 0; i < t.tensor.numel(); ++i) ASSERT_TRUE(std::isfinite(p[i])) << t.name;
  }
}

TEST(TrainCli, AbsurdLearningRateExitsNonZeroWithOneLine) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const fs::path data = idx_dataset(dir / "data");
  const CliResult r =
      resnet_cli("train --arch resnet20 --dataset fashion-mnist --data " + data.string() +
                 " --epochs 2 --batch-size 16 --lr 1e30 --threads 1 --quiet --out " + (dir / "run").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("training diverged"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "run" / "state.safetensors"));
}

// ----- overfitting

TEST(Train, Resnet20Memorises256FashionMnistImages) {
  const std::string dir = default_data_dir("fashion-mnist");
  if (!fs::is_directory(dir)) GTEST_SKIP() << dir << " is missing (scripts/bootstrap.sh installs it)";
  std::shared_ptr<const Dataset> fashion = open_dataset("fashion-mnist", "", Split::train);
  std::ostringstream log;
  TrainHooks hooks = quiet_hooks(log);
  hooks.train_set = fashion;
  hooks.test_set = fashion;  // evaluated on the same 256 images, in eval mode
  hooks.on_epoch_end = [](const EpochMetrics& m) { return !(m.train_acc == 1.0 && m.test_acc == 1.0); };

  TrainConfig c;
  c.arch = "resnet20";
  c.dataset = "fashion-mnist";
  c.subset = 256;
  c.test_subset = 256;
  c.augment = false;
  c.epochs = 15;
  c.batch_size = 32;
  c.optimizer = "adamw";
  c.lr = 0.004;
  c.weight_decay = 0.0;
  c.schedule = "onecycle";
  c.threads = 1;
  c.out_dir = scratch().string();
  const auto start = std::chrono::steady_clock::now();
  const TrainSummary s = train(resolve_train_config(c), hooks);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  double best_train_acc = 0.0;
  for (const EpochMetrics& m : s.history) best_train_acc = std::max(best_train_acc, m.train_acc);
  EXPECT_EQ(best_train_acc, 1.0) << log.str();
  EXPECT_EQ(s.history.back().test_acc, 1.0) << log.str();  // the weights as saved memorised every image
  RecordProperty("seconds", std::to_string(seconds));
  std::cout << fmt::format("[overfit] 256 images, {} epochs: {:.1f} s\n", s.history.size(), seconds);
}

// ----- kills and the command line

struct Child {
  pid_t pid = -1;
};

Child spawn_resnet(const std::string& args, const fs::path& log) {
  const std::string command = "exec " + resnet_bin() + " " + args + " >>" + log.string() + " 2>&1";
  const char* argv[] = {"/bin/sh", "-c", command.c_str(), nullptr};
  Child child;
  EXPECT_EQ(posix_spawn(&child.pid, "/bin/sh", nullptr, nullptr, const_cast<char**>(argv), environ), 0);
  return child;
}

// Exit status of a finished child; -signal if it was killed.
int wait_child(const Child& child) {
  int status = 0;
  waitpid(child.pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

TEST(TrainCli, KillAtAnyMomentLeavesALoadableCheckpointAndResumeEndsWithTheSameWeights) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const fs::path data = idx_dataset(dir / "data", 48, 16);
  const std::string common =
      "train --arch resnet20 --dataset fashion-mnist --data " + data.string() +
      " --epochs 8 --batch-size 16 --lr 0.05 --threads 1 --workers 1 --quiet --seed 3 --out ";

  const fs::path straight = dir / "straight";
  const auto begin = std::chrono::steady_clock::now();
  const Child full = spawn_resnet(common + straight.string(), dir / "straight.log");
  ASSERT_EQ(wait_child(full), 0) << read_bytes(dir / "straight.log");
  const double full_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();

  // Kills at random moments, each within the first 5-25% of a whole run's time (start-up, training,
  // evaluation or writing the checkpoint), each restart resuming from whatever was committed, until three
  // kills landed. Three kills take at most 75% of a run, so a machine whose load changes after the timed
  // run (CI, sanitizer builds) still sees them all land.
  const fs::path run = dir / "killed";
  std::mt19937 rng(11);
  int kills = 0;
  for (int attempt = 0; attempt < 30 && kills < 3; ++attempt) {
    const bool resume = fs::exists(run / "state.safetensors");
    const Child child = spawn_resnet(common + run.string() + (resume ? " --resume" : ""), dir / "killed.log");
    const double fraction = 0.05 + 0.20 * double(rng() % 1000) / 1000.0;
    std::this_thread::sleep_for(std::chrono::milliseconds(int64_t(full_ms * fraction)));
    ::kill(child.pid, SIGKILL);
    const int status = wait_child(child);
    if (status == 0) break;  // finished before the kill
    ASSERT_EQ(status, -SIGKILL) << read_bytes(dir / "killed.log");
    ++kills;
    // Whatever the moment, the committed state loads. The files derived from it (last.safetensors,
    // metrics.csv) follow the commit and a kill can fall between the two (--resume rewrites them from the
    // state); each is written atomically, so one that exists is whole.
    if (fs::exists(run / "state.safetensors")) {
      EXPECT_NO_THROW(load_safetensors((run / "state.safetensors").string()));
      if (fs::exists(run / "last.safetensors")) {
        EXPECT_NO_THROW(load_safetensors((run / "last.safetensors").string()));
      }
      if (fs::exists(run / "metrics.csv")) {
        const std::vector<std::string> rows = lines_of(read_bytes(run / "metrics.csv"));
        ASSERT_FALSE(rows.empty());
        EXPECT_EQ(rows[0], "epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds");
      }
    }
  }
  EXPECT_GE(kills, 2);
  const bool derived_files = fs::exists(run / "state.json") && fs::exists(run / "last.safetensors");
  if (!fs::exists(run / "state.safetensors") || !derived_files ||
      json::parse(read_bytes(run / "state.json")).at("epochs_done") != 8) {
    const Child rest = spawn_resnet(common + run.string() + " --resume", dir / "killed.log");
    ASSERT_EQ(wait_child(rest), 0) << read_bytes(dir / "killed.log");
  }
  for (const char* file : {"last.safetensors", "best.safetensors"}) {
    EXPECT_TRUE(read_bytes(straight / file) == read_bytes(run / file)) << file << " differs";
  }
  EXPECT_EQ(lines_of(read_bytes(run / "metrics.csv")).size(), 9u);
  EXPECT_TRUE(temp_leftovers(run).empty());
}

TEST(TrainCli, ResumeTakesTheRunsFlagsAndRejectsChangedOnes) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const fs::path data = idx_dataset(dir / "data", 32, 16);
  const std::string out = (dir / "run").string();
  CliResult r = resnet_cli("train --arch resnet20 --dataset fashion-mnist --data " + data.string() +
                           " --epochs 2 --batch-size 16 --lr 0.03 --threads 1 --quiet --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  r = resnet_cli("train --out " + out + " --resume --lr 0.1");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("--lr 0.1 (the run has 0.03)"), std::string::npos) << r.err;

  r = resnet_cli("train --out " + out + " --resume --quiet");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("already finished"), std::string::npos) << r.out;
}

// --no-winograd: recorded in config.json ("winograd": false; absent when on, as before the flag existed), so
// --resume takes the same path; the trained weights differ in rounding from the Winograd run's (resnet20's
// 32- and 64-channel 3x3 layers take it at batch 16), which shows the flag reaches training.
TEST(TrainCli, NoWinogradIsRecordedAndChangesOnlyTheRounding) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const fs::path data = idx_dataset(dir / "data", 32, 16);
  const std::string common = "train --arch resnet20 --dataset fashion-mnist --data " + data.string() +
                             " --epochs 1 --batch-size 16 --lr 0.03 --threads 1 --quiet --out ";
  const fs::path direct = dir / "direct", winograd = dir / "winograd";
  CliResult r = resnet_cli(common + direct.string() + " --no-winograd");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = resnet_cli(common + winograd.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(read_bytes(direct / "config.json")).at("winograd"), false);
  EXPECT_FALSE(json::parse(read_bytes(winograd / "config.json")).contains("winograd"));
  EXPECT_FALSE(read_bytes(direct / "last.safetensors") == read_bytes(winograd / "last.safetensors"));
}

// --tune: the first step times every convolution pass's kernels and records the choices in the tuning cache
// (XDG_CACHE_HOME); a second run reads them, times nothing, and — running the same kernels — trains the same
// weights bit for bit (what a resumed run relies on); --tune is not part of config.json.
TEST(TrainCli, TuneRecordsItsChoicesAndARunFromTheCacheTrainsTheSameWeights) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const test::FreshCacheHome home(dir, "xdg");
  const fs::path data = idx_dataset(dir / "data", 32, 16);
  const std::string common = "train --arch resnet20 --dataset fashion-mnist --data " + data.string() +
                             " --epochs 1 --batch-size 16 --lr 0.03 --threads 1 --quiet --tune --out ";
  const fs::path timed = dir / "timed", cached = dir / "cached";
  CliResult r = resnet_cli(common + timed.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json cache = json::parse(read_bytes(home.dir() / "resnet.cpp" / "tuning.json"));
  int choices = 0;
  for (const auto& [machine, entries] : cache.at("machines").items()) {
    for (const auto& [key, entry] : entries.items()) choices += key.rfind("train conv2d ", 0) == 0;
  }
  // resnet20: forward, backward-data and backward-weights of its five 3x3 shapes, the stem's forward and
  // backward-weights (no input gradient)
  EXPECT_EQ(choices, 17) << cache.dump(1);
  const std::string before = read_bytes(home.dir() / "resnet.cpp" / "tuning.json");
  r = resnet_cli(common + cached.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_bytes(home.dir() / "resnet.cpp" / "tuning.json"), before) << "the second run timed again";
  EXPECT_TRUE(read_bytes(timed / "last.safetensors") == read_bytes(cached / "last.safetensors"));
  EXPECT_FALSE(json::parse(read_bytes(timed / "config.json")).contains("tune"));
}

// Fine-tuning from the command line: a run's checkpoint as --init-weights for a 2-class selection of the same
// data with the backbone frozen: the report line (stdout and config.json), and a backbone that did not move.
TEST(TrainCli, InitWeightsClassesAndFrozenBackbone) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const fs::path data = idx_dataset(dir / "data", 32, 16);
  const std::string common = "train --arch resnet20 --dataset fashion-mnist --data " + data.string() +
                             " --batch-size 8 --threads 1 --quiet --epochs 1 ";
  CliResult r = resnet_cli(common + "--out " + (dir / "pretrained").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const fs::path tuned = dir / "tuned";
  r = resnet_cli(common + "--classes 3,1 --per-class 4 --freeze backbone --lr-backbone 0.01 --init-weights " +
                 (dir / "pretrained" / "state.safetensors").string() + " --out " + tuned.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const StateDict before = load_safetensors((dir / "pretrained" / "last.safetensors").string());
  const std::string expected = fmt::format(
      "init: {} tensors loaded from state.safetensors; fc.weight, fc.bias re-initialised (10 -> 2 classes)",
      before.size() - 2);
  EXPECT_EQ(lines_of(r.out).at(0), expected) << r.out;
  const json config = json::parse(read_bytes(tuned / "config.json"));
  EXPECT_EQ(config.at("init"), expected);
  EXPECT_EQ(config.at("classes"), json::array({3, 1}));
  EXPECT_EQ(config.at("freeze"), "backbone");

  const StateDict after = load_safetensors((tuned / "last.safetensors").string());
  for (const NamedTensor& t : after) {
    if (t.name.starts_with("fc.") || t.name.ends_with("num_batches_tracked")) continue;
    const NamedTensor* b = find_tensor(before, t.name);
    ASSERT_NE(b, nullptr) << t.name;
    EXPECT_EQ(std::memcmp(b->tensor.data(), t.tensor.data(), t.tensor.nbytes()), 0) << t.name << " moved";
  }
  EXPECT_EQ(find_tensor(after, "fc.weight")->tensor.dim(0), 2);

  r = resnet_cli(common + "--init-weights " + (dir / "missing.pth").string() + " --out " +
                 (dir / "x").string());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("missing.pth"), std::string::npos) << r.err;
}

TEST(TrainCli, BadInputIsOneLineExit2AndWritesNothing) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const fs::path data = idx_dataset(dir / "data", 32, 16);
  const fs::path corrupt = dir / "corrupt";
  fs::create_directories(corrupt);
  idx_dataset(corrupt, 32, 16);
  fs::resize_file(corrupt / "train-images-idx3-ubyte", 1000);

  const std::string out = (dir / "out").string();
  const std::string base = "train --threads 1 --out " + out + " ";
  const std::string fashion = "--arch resnet20 --dataset fashion-mnist --data " + data.string() + " ";
  const std::string arch = "--arch resnet20 ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {base + arch + "--dataset imagenet --data " + data.string(), "unknown dataset"},
      {base + arch + "--dataset fashion-mnist --data " + (dir / "missing").string(), "missing"},
      {base + arch + "--dataset fashion-mnist --data " + corrupt.string(), "train-images-idx3-ubyte"},
      {base + arch + "--dataset cifar10", "--data"},
      {base + fashion + "--epochs 0", "--epochs"},
      {base + fashion + "--lr -1", "--lr"},
      {base + fashion + "--batch-size 0", "--batch-size"},
      {base + fashion + "--schedule linear", "--schedule"},
      {base + fashion + "--optimizer adam", "--optimizer"},
      {base + fashion + "--momentum 1.5", "--momentum"},
      {base + fashion + "--label-smoothing 2", "--label-smoothing"},
      {base + fashion + "--warmup-epochs 30", "--warmup-epochs"},
      {base + fashion + "--stem tiny", "--stem"},
      {base + "--arch resnet19 --dataset fashion-mnist --data " + data.string(), "resnet19"},
      {base + "--dataset fashion-mnist --data " + data.string(), "--arch"},
      {base + fashion + "--resume", "no checkpoint to resume"},
      {base + fashion + "--epochs two", "--epochs"},
  };
  for (const auto& [args, expected] : cases) {
    const CliResult r = resnet_cli(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << args << "\n" << r.err;
    EXPECT_FALSE(fs::exists(out)) << args;
  }
}

TEST(EvalCli, ReportsTopKPerClassAndConfusionAsTextJsonAndPng) {
  REQUIRE_RESNET_BIN();
  const fs::path dir = scratch();
  const fs::path data = idx_dataset(dir / "data", 48, 40);
  const std::string run = (dir / "run").string();
  CliResult r = resnet_cli("train --arch resnet20 --dataset fashion-mnist --data " + data.string() +
                           " --epochs 1 --batch-size 16 --threads 1 --quiet --out " + run);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  const std::string eval = "eval --arch resnet20 --dataset fashion-mnist --data " + data.string() +
                           " --threads 1 --weights " + run + "/best.safetensors ";
  r = resnet_cli(eval + "--json --show 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_GE(j.at("top1").get<double>(), 0.0);
  EXPECT_LE(j.at("top1").get<double>(), 1.0);
  EXPECT_GE(j.at("top5").get<double>(), j.at("top1").get<double>());
  EXPECT_EQ(j.at("count"), 40);
  ASSERT_EQ(j.at("per_class").size(), 10u);
  EXPECT_EQ(j.at("per_class")[0].at("class"), "T-shirt/top");
  EXPECT_EQ(j.at("per_class")[0].at("count"), 10);  // labels 0..3 of the quadrant pattern
  EXPECT_EQ(j.at("per_class")[9].at("count"), 0);
  ASSERT_EQ(j.at("confusion").size(), 10u);
  int64_t total = 0, diagonal = 0;
  for (size_t t = 0; t < 10; ++t) {
    for (size_t p = 0; p < 10; ++p) total += j["confusion"][t][p].get<int64_t>();
    diagonal += j["confusion"][t][t].get<int64_t>();
  }
  EXPECT_EQ(total, 40);
  EXPECT_NEAR(double(diagonal) / 40.0, j.at("top1").get<double>(), 1e-12);
  EXPECT_EQ(j.at("predictions").size(), 3u);

  const fs::path png = dir / "confusion.png";
  r = resnet_cli(eval + "--confusion-png " + png.string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("top-1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Ankle boot"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("confusion matrix"), std::string::npos) << r.out;
  EXPECT_GT(png_size(read_bytes(png)).first, 400u);

  r = resnet_cli(eval + "--stem imagenet");  // weights of the other stem: a clear error
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("conv1.weight"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace resnet
