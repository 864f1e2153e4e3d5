// The `resnet` tool's contract: exit codes, one-line errors, exact params/MACs from `summary --json`.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "unit/cli_test_util.h"

namespace {

std::filesystem::path temp_dir() {
  const char* env = std::getenv("RESNET_TEST_TMP");
  auto dir = std::filesystem::path(env ? env : std::filesystem::temp_directory_path().string()) / "cli";
  std::filesystem::create_directories(dir);
  return dir;
}

using resnet::test::CliResult;
using resnet::test::FreshCacheHome;

CliResult resnet(const std::string& args) {
  return resnet::test::run_resnet(args, temp_dir());
}

int count_lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

TEST(Cli, UnknownArchitectureIsOneLineExit2ListingValidNames) {
  CliResult r = resnet("summary --arch resnet19");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("unknown architecture 'resnet19'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("wide_resnet101_2"), std::string::npos) << r.err;
}

TEST(Cli, MalformedInputShapeIsOneLineExit2) {
  for (const char* shape : {"3x224", "3x224x0", "axbxc", "3x224x224x1", "-3x4x4"}) {
    CliResult r = resnet(std::string("summary --arch resnet18 --input ") + shape);
    EXPECT_EQ(r.exit_code, 2) << shape;
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("--input"), std::string::npos) << r.err;
  }
}

TEST(Cli, MissingFilesAreOneLineExit2NamingTheFile) {
  CliResult r = resnet("infer --arch resnet18 --input-npy /nonexistent/in.npy");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(count_lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("/nonexistent/in.npy"), std::string::npos) << r.err;

  CliResult c = resnet("convert /nonexistent/w.pth " + (temp_dir() / "w.safetensors").string());
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_NE(c.err.find("/nonexistent/w.pth"), std::string::npos) << c.err;
  EXPECT_FALSE(std::filesystem::exists(temp_dir() / "w.safetensors"));
}

TEST(Cli, BadFlagsAreOneLineExit2) {
  for (const char* args : {"summary", "summary --arch resnet18 --bogus", "bench --arch resnet18 --batch 0",
                           "bench --arch resnet18 --threads -1", "nosuchcommand", ""}) {
    CliResult r = resnet(args);
    EXPECT_EQ(r.exit_code, 2) << args;
    EXPECT_EQ(count_lines(r.err), 1) << args << ": " << r.err;
  }
}

TEST(Cli, EverySubcommandHasHelp) {
  for (const char* sub : {"list", "summary", "print", "infer", "predict", "explain", "convert", "bench"}) {
    CliResult r = resnet(std::string(sub) + " --help");
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << sub << ": " << r.out;
  }
}

// The numbers: parameters and conv+linear MACs at 1x3x224x224.
TEST(Cli, SummaryJsonGivesTorchvisionParamsAndMacs) {
  const std::vector<std::tuple<std::string, int64_t, int64_t>> expected = {
      {"resnet18", 11689512, 1814073344},
      {"resnet34", 21797672, 3663761408},
      {"resnet50", 25557032, 4089184256},
      {"resnet101", 44549160, 7801405440},
      {"resnet152", 60192808, 11513626624}};
  for (const auto& [arch, params, macs] : expected) {
    CliResult r = resnet("summary --arch " + arch + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["params"].get<int64_t>(), params) << arch;
    EXPECT_EQ(j["macs"].get<int64_t>(), macs) << arch;
    EXPECT_TRUE(j["layers"].is_array());
    EXPECT_EQ(j["layers"].back()["output_shape"], nlohmann::json({1, 1000})) << arch;
  }
}

// He et al. 2015 §4.2 networks, 3 channels, 10 classes (the numbers).
TEST(Cli, SummaryJsonGivesPaperParamsForCifarNetworks) {
  const std::vector<std::pair<std::string, int64_t>> expected = {
      {"resnet20", 269722}, {"resnet32", 464154},   {"resnet44", 658586},
      {"resnet56", 853018}, {"resnet110", 1727962}, {"resnet1202", 19421274}};
  for (const auto& [arch, params] : expected) {
    CliResult r = resnet("summary --arch " + arch + " --json");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["params"].get<int64_t>(), params) << arch;
    EXPECT_EQ(j["input_shape"], nlohmann::json({1, 3, 32, 32})) << arch;
    EXPECT_EQ(j["layers"].back()["output_shape"], nlohmann::json({1, 10})) << arch;
  }
}

TEST(Cli, ListShowsEveryArchitectureWithTorchvisionCounts) {
  CliResult r = resnet("list --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 16u);
  EXPECT_EQ(j[0]["arch"], "resnet18");
  EXPECT_EQ(j[0]["params"].get<int64_t>(), 11689512);
  EXPECT_EQ(j[0]["macs"].get<int64_t>(), 1814073344);
  EXPECT_EQ(j[9]["arch"], "wide_resnet101_2");
  EXPECT_EQ(j[9]["params"].get<int64_t>(), 126886696);
}

TEST(Cli, SummaryFollowsInputChannelsClassesAndOddSizes) {
  CliResult r = resnet("summary --arch resnet18 --num-classes 7 --input 1x97x131 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  // resnet18 with a 1-channel stem and 7 classes: 11,689,512 - 64*2*49 - 512*993 - 993.
  EXPECT_EQ(j["params"].get<int64_t>(), 11689512 - 64 * 2 * 49 - 512 * 993 - 993);
  EXPECT_EQ(j["layers"][0]["output_shape"], nlohmann::json({1, 64, 49, 66}));

  CliResult conflict = resnet("summary --arch resnet18 --in-channels 3 --input 1x64x64");
  EXPECT_EQ(conflict.exit_code, 2);
}

TEST(Cli, InferPrintsTopFivePerImageAndRejectsWrongChannels) {
  const auto dir = temp_dir();
  const std::string npy = (dir / "zeros.npy").string();
  {
    // A 2x3x32x32 float32 .npy written by hand (format 1.0).
    std::ofstream f(npy, std::ios::binary);
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 32, 32), }";
    // Magic (6) + version (2) + length (2) + header, padded with spaces and a newline to a multiple of 64.
    const size_t padded = (10 + header.size() + 1 + 63) / 64 * 64 - 10;
    header.append(padded - header.size() - 1, ' ');
    header += '\n';
    const uint16_t len = static_cast<uint16_t>(header.size());
    f << "\x93NUMPY" << '\x01' << '\x00';
    f.write(reinterpret_cast<const char*>(&len), 2);
    f << header;
    std::vector<float> zeros(2 * 3 * 32 * 32, 0.25f);
    f.write(reinterpret_cast<const char*>(zeros.data()), static_cast<std::streamsize>(zeros.size() * 4));
  }
  CliResult r = resnet("infer --arch resnet18 --num-classes 10 --input-npy " + npy);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count_lines(r.out), 2) << r.out;
  EXPECT_EQ(r.out.rfind("image 0:", 0), 0u) << r.out;

  CliResult bad = resnet("infer --arch resnet18 --in-channels 1 --input-npy " + npy);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("zeros.npy"), std::string::npos) << bad.err;
}

TEST(Cli, PrintStartsLikeTorchvision) {
  CliResult r = resnet("print --arch resnet18");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("ResNet(\n  (conv1): Conv2d(3, 64, kernel_size=(7, 7), stride=(2, 2), padding=(3, "
                        "3), bias=False)\n",
                        0),
            0u)
      << r.out;
}

// --tune: tuned and said so; then on by default, because the cache has this machine, reading it and timing
// nothing; --no-tune: off; both: one line, exit 2.
TEST(Cli, BenchTunesWithTuneAndByDefaultOnceTheCacheHasThisMachine) {
  const FreshCacheHome home(temp_dir(), "xdg-tune");
  const auto& xdg = home.dir();
  const std::string bench = "bench --arch resnet20 --batch 2 --size 32 --iters 1 --threads 1 ";
  CliResult untuned = resnet(bench + "--json");
  ASSERT_EQ(untuned.exit_code, 0) << untuned.err;
  EXPECT_FALSE(nlohmann::json::parse(untuned.out).contains("tuned_convolutions"));
  CliResult first = resnet(bench + "--json --tune");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto j = nlohmann::json::parse(first.out);
  EXPECT_GT(j["tuned_convolutions"].get<int>(), 0);
  EXPECT_GT(j["tuning_timings"].get<int>(), 0);
  EXPECT_EQ(j["tuning_cache"], (xdg / "resnet.cpp" / "tuning.json").string());
  CliResult again = resnet(bench + "--verbose");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("tuned: "), std::string::npos) << again.out;
  EXPECT_NE(again.out.find(", 0 candidate kernels timed"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("layer1.0.conv1: "), std::string::npos) << again.out;
  CliResult off = resnet(bench + "--no-tune");
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_EQ(off.out.find("tuned: "), std::string::npos) << off.out;
  CliResult both = resnet(bench + "--tune --no-tune");
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_EQ(count_lines(both.err), 1) << both.err;
}

// bench --train --tune: training's convolutions timed (every kernel of each pass) on the first step and
// recorded in the tuning cache; a second run reads them and times nothing; without --tune nothing is tuned,
// even with a cache (training tunes only when asked).
TEST(Cli, BenchTrainTunesTrainingConvolutionsOnlyWithTune) {
  const FreshCacheHome home(temp_dir(), "xdg-train-tune");
  const auto& xdg = home.dir();
  const std::string bench =
      "bench --train --arch resnet20 --batch 4 --size 16 --in-channels 1 --num-classes 10 --iters 1 --warmup "
      "0 "
      "--threads 1 ";
  CliResult first = resnet(bench + "--tune --json");
  ASSERT_EQ(first.exit_code, 0) << first.err;
  auto j = nlohmann::json::parse(first.out);
  EXPECT_TRUE(j["tuned"].get<bool>());
  EXPECT_NE(j["tuning"].get<std::string>().find(" training convolutions, 0 from the cache"),
            std::string::npos)
      << j.dump();
  std::ifstream in(xdg / "resnet.cpp" / "tuning.json");
  const auto cache = nlohmann::json::parse(in);
  int train_entries = 0;
  for (const auto& [machine, entries] : cache["machines"].items()) {
    for (const auto& [key, entry] : entries.items()) {
      if (key.rfind("train conv2d ", 0) == 0) ++train_entries;
    }
  }
  EXPECT_GE(train_entries, 3) << cache.dump(
      1);  // forward, backward-data, backward-weights of a shape at least
  CliResult again = resnet(bench + "--tune --verbose");
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find(", 0 candidate kernels timed"), std::string::npos) << again.out;
  EXPECT_NE(again.out.find("  conv2d forward x [4,16,16,16] w [16,16,3,3] stride 1x1 pad 1x1: "),
            std::string::npos)
      << again.out;
  EXPECT_NE(again.out.find(" (cached)"), std::string::npos) << again.out;
  CliResult untuned = resnet(bench + "--json");
  ASSERT_EQ(untuned.exit_code, 0) << untuned.err;
  auto u = nlohmann::json::parse(untuned.out);
  EXPECT_FALSE(u["tuned"].get<bool>());
  EXPECT_FALSE(u.contains("tuning"));
}

TEST(Cli, BenchJsonHasThroughputAndLatency) {
  CliResult r = resnet("bench --arch resnet18 --batch 2 --size 64 --iters 2 --threads 1 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["images_per_sec"].get<double>(), 0.0);
  EXPECT_GT(j["ms_per_batch"].get<double>(), 0.0);
  EXPECT_EQ(j["threads"].get<int>(), 1);
  EXPECT_TRUE(j["winograd"].get<bool>());
  CliResult direct =
      resnet("bench --arch resnet18 --batch 2 --size 64 --iters 1 --threads 1 --json --no-winograd");
  ASSERT_EQ(direct.exit_code, 0) << direct.err;
  EXPECT_FALSE(nlohmann::json::parse(direct.out)["winograd"].get<bool>());
}

}  // namespace
