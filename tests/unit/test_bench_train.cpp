// `resnet bench --train`: a tiny configuration runs and prints the JSON keys scripts/bench_train.sh reads;
// misused flags are one line on stderr and exit 2.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "unit/cli_test_util.h"

namespace {

namespace fs = std::filesystem;

using resnet::test::CliResult;

// Runs `resnet ARGS`, capturing stdout, stderr and the exit code.
CliResult resnet(const std::string& args) {
  const char* tmp = std::getenv("RESNET_TEST_TMP");
  const fs::path dir = fs::path(tmp ? tmp : fs::temp_directory_path().string()) / "bench_train";
  fs::create_directories(dir);
  return resnet::test::run_resnet(args, dir);
}

int count_lines(const std::string& s) {
  return static_cast<int>(std::count(s.begin(), s.end(), '\n'));
}

// Runs `resnet bench --train ARGS --json`, which must succeed, and returns its JSON ({} and a failure if
// not).
nlohmann::json bench_train_json(const std::string& args) {
  const CliResult r = resnet("bench --train " + args + " --json");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  if (r.exit_code != 0) return nlohmann::json::object();
  return nlohmann::json::parse(r.out);
}

TEST(BenchTrain, TinyConfigPrintsTheJsonKeys) {
  const nlohmann::json j = bench_train_json(
      "--arch resnet20 --batch 4 --size 8 --in-channels 1 --num-classes 10 --warmup 1 --iters 2 --threads 1");
  for (const char* key : {"images_per_sec", "ms_per_step", "peak_rss_mib"}) {
    ASSERT_TRUE(j.contains(key)) << key << " missing in " << j.dump();
    EXPECT_GT(j[key].get<double>(), 0.0) << key;
  }
  EXPECT_EQ(j["mode"], "train");
  EXPECT_EQ(j["batch"], 4);
  EXPECT_EQ(j["iters"], 2);
  EXPECT_EQ(j["precision"], "f32");
  EXPECT_NEAR(j["images_per_sec"].get<double>(), 4 * 1000.0 / j["ms_per_step"].get<double>(), 1e-6);
  EXPECT_TRUE(std::isfinite(j["final_loss"].get<double>()));
}

// resnet18's 64-512 channel 3x3 layers at 8x8, batch 2: the 64..256-channel ones take Winograd unless
// --no-winograd.
TEST(BenchTrain, NoWinogradIsAcceptedAndReported) {
  const std::string tiny =
      "--arch resnet18 --stem cifar --batch 2 --size 8 --num-classes 10 --warmup 0 --iters 1 --threads 1";
  EXPECT_EQ(bench_train_json(tiny)["winograd"], true);
  EXPECT_EQ(bench_train_json(tiny + " --no-winograd")["winograd"], false);
}

TEST(BenchTrain, CifarStemOnAnImageNetArchitecture) {
  const nlohmann::json j = bench_train_json(
      "--arch resnet18 --stem cifar --batch 2 --size 8 --num-classes 10 --warmup 0 --iters 1 --threads 1");
  EXPECT_EQ(j["stem"], "cifar");
  EXPECT_EQ(j["arch"], "resnet18");
}

TEST(BenchTrain, BadFlagsAreOneLineExit2) {
  const std::string tiny = "bench --arch resnet20 --batch 2 --size 8 --iters 1 --warmup 0 --threads 1 ";
  for (const std::string& args : std::vector<std::string>{
           tiny + "--train --precision f16",  // unknown precision
           tiny + "--train --stem tiny",      // unknown stem
           tiny + "--train --dtype bf16",     // an inference flag
           tiny + "--train --no-fuse",        // an inference flag
           tiny + "--precision bf16",         // a --train flag without --train
           tiny + "--stem cifar",             // a --train flag without --train
           tiny + "--train --in-channels 0",  // no channels
           std::string(
               "bench --train --arch resnet20 --batch 1 --size 8 --iters 1"),  // batch norm needs 2 images
           "bench --train --arch resnet19 --batch 2 --size 8",                 // unknown architecture
           tiny + "--train --iters 0",                                         // CLI11's own check
       }) {
    const CliResult r = resnet(args);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.err;
    EXPECT_EQ(count_lines(r.err), 1) << args << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << args << "\n" << r.out;
  }
}

}  // namespace
