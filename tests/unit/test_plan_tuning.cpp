// Per-machine tuning of the plan's convolutions (PlanOptions::tune, src/infer/onednn/conv_tuner.h) and its
// cache (src/infer/tuning_cache.h): a tuned plan computes the untuned plan's function, a second compile reads
// the cache and times nothing, a corrupt or foreign cache is tuned again (never an error), and the cache
// lives where XDG says.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "dnnl/ops.h"
#include "infer/onednn/conv_tuner.h"
#include "resnet/calibration.h"
#include "resnet/plan.h"
#include "unit/plan_test_util.h"
#include "unit/train_test_helpers.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;
using test::make_model;
using test::random_tensor;
using test::relative_difference;

const Shape kInput = {2, 64, 64, 3};
const Shape kSmallInput = {2, 32, 32, 3};      // resnet20's
constexpr int64_t kResnet18Convolutions = 20;  // conv1, 16 in the blocks, 3 downsamples

PlanOptions tuned(const fs::path& cache) {
  return {.tune = true, .tuning_cache = cache.string()};
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// Sets an environment variable for one scope and puts the old value back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? setenv(name, value, 1) : unsetenv(name);
  }
  ~ScopedEnv() { old_ ? setenv(name_, old_->c_str(), 1) : unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(PlanTuning, TunedPlanGivesTheUntunedPlansLogits) {
  ops::set_num_threads(2);
  const fs::path cache = test::fresh_test_dir("plan_tuning") / "tuning.json";
  auto model = make_model("resnet18");
  const Tensor x = random_tensor(kInput, 42);
  InferencePlan plain = InferencePlan::compile(*model, Precision::f32, kInput);
  InferencePlan plan = InferencePlan::compile(*model, Precision::f32, kInput, tuned(cache));
  const PlanStats& s = plan.stats();
  EXPECT_EQ(s.tuned_convolutions, kResnet18Convolutions);
  EXPECT_GT(s.tuning_timings, 0);
  EXPECT_EQ(s.tuned_kernels.size(), size_t(kResnet18Convolutions));
  EXPECT_EQ(s.tuning_cache, cache.string());
  EXPECT_EQ(plain.stats().tuned_convolutions, 0);
  const Tensor logits = plan.run(x);
  EXPECT_LT(relative_difference(logits, plain.run(x)), 1e-4) << plan.describe();
  EXPECT_LT(relative_difference(logits, model->forward(x)), 1e-4) << plan.describe();
}

TEST(PlanTuning, Bf16TunedPlanStaysCloseToF32) {
  ops::set_num_threads(2);
  const fs::path cache = test::fresh_test_dir("plan_tuning") / "tuning.json";
  auto model = make_model("resnet18");
  const Tensor x = random_tensor(kInput, 43);
  InferencePlan plan = InferencePlan::compile(*model, Precision::bf16, kInput, tuned(cache));
  EXPECT_EQ(plan.stats().tuned_convolutions, kResnet18Convolutions);
  test::expect_close_with_same_top1(plan.run(x), model->forward(x), 5e-2);
}

// A tuned bf16 plan is first timed whole in bf16 and in f32 and runs the faster (on Zen 4: bf16; on a Xeon
// with AVX512-BF16 but no AMX: f32), and says so first in its tuned kernels.
TEST(PlanTuning, Bf16PlanRunsTheFasterOfBf16AndF32AndSaysWhich) {
  ops::set_num_threads(2);
  const fs::path cache = test::fresh_test_dir("plan_tuning") / "tuning.json";
  auto model = make_model("resnet18");
  InferencePlan plan = InferencePlan::compile(*model, Precision::bf16, kInput, tuned(cache));
  const std::string& choice = plan.stats().tuned_kernels.at(0);
  const std::string chosen(precision_name(plan.precision()));
  EXPECT_EQ(choice.rfind("plan: " + chosen + " (timed: bf16 ", 0), 0u) << choice;
  EXPECT_NE(choice.find(", f32 "), std::string::npos) << choice;
  EXPECT_EQ(plan.stats().tuned_convolutions,
            kResnet18Convolutions);  // the plan's choice is not a convolution
  InferencePlan again = InferencePlan::compile(*model, Precision::bf16, kInput, tuned(cache));
  EXPECT_EQ(again.stats().tuned_kernels.at(0), "plan: " + chosen + " (cached)");
  EXPECT_EQ(again.precision(), plan.precision());
  EXPECT_EQ(again.stats().tuning_timings, 0);
}

// Where the cache says f32 for a bf16 plan (as tuning writes it on a CPU whose bf16 is slower), the plan runs
// f32: its logits are the f32 plan's within f32 rounding, far closer than bf16 could be.
TEST(PlanTuning, Bf16PlanThatTuningFoundSlowerRunsF32) {
  ops::set_num_threads(2);
  const fs::path cache = test::fresh_test_dir("plan_tuning") / "tuning.json";
  auto model = make_model("resnet18");
  const Tensor x = random_tensor(kInput, 44);
  InferencePlan::compile(*model, Precision::bf16, kInput, tuned(cache));
  nlohmann::json json = read_json(cache);
  int plan_entries = 0;
  for (auto& [machine, entries] : json["machines"].items()) {
    for (auto& [key, entry] : entries.items()) {
      if (key.rfind("plan ", 0) == 0) {
        entry["kernel"] = "f32";
        ++plan_entries;
      }
    }
  }
  ASSERT_EQ(plan_entries, 1) << json.dump(1);
  write_text(cache, json.dump());
  InferencePlan plan = InferencePlan::compile(*model, Precision::bf16, kInput, tuned(cache));
  EXPECT_EQ(plan.precision(), Precision::f32);
  EXPECT_EQ(plan.stats().tuned_kernels.at(0), "plan: f32 (cached)");
  InferencePlan f32 = InferencePlan::compile(*model, Precision::f32, kInput);
  EXPECT_LT(relative_difference(plan.run(x), f32.run(x)), 1e-5);
}

TEST(PlanTuning, SecondCompileReadsTheCacheAndTimesNothing) {
  ops::set_num_threads(2);
  const fs::path cache = test::fresh_test_dir("plan_tuning") / "sub" / "tuning.json";  // folder made
  auto model = make_model("resnet18");
  EXPECT_FALSE(tuning_cache_has_this_machine(cache.string()));
  InferencePlan first = InferencePlan::compile(*model, Precision::f32, kInput, tuned(cache));
  ASSERT_TRUE(fs::exists(cache));
  EXPECT_TRUE(tuning_cache_has_this_machine(cache.string()));
  EXPECT_GT(first.stats().tuning_timings, 0);
  InferencePlan second = InferencePlan::compile(*model, Precision::f32, kInput, tuned(cache));
  EXPECT_EQ(second.stats().tuning_timings, 0);
  EXPECT_GT(second.stats().tuning_cache_hits, 0);
  EXPECT_EQ(second.stats().tuned_convolutions, kResnet18Convolutions);
  // The same kernel for every convolution: the choices the first compile timed are the ones the second read.
  ASSERT_EQ(first.stats().tuned_kernels.size(), second.stats().tuned_kernels.size());
  for (size_t i = 0; i < first.stats().tuned_kernels.size(); ++i) {
    auto kernel = [](const std::string& choice) { return choice.substr(0, choice.find(" (")); };
    EXPECT_EQ(kernel(second.stats().tuned_kernels[i]), kernel(first.stats().tuned_kernels[i]));
  }
  // The same kernels, so the same bits.
  const Tensor x = random_tensor(kInput, 44);
  EXPECT_EQ(relative_difference(second.run(x), first.run(x)), 0.0) << first.describe() << "\n---\n"
                                                                   << second.describe();
}

// The candidate kernels a tuned convolution timed: "layer1.0.conv1: a (timed: a 0.27 ms, b (other results), c
// 0.28 ms)" -> {a, c}.
std::vector<std::string> timed_candidates(const std::string& choice) {
  std::vector<std::string> names;
  const size_t open = choice.find("(timed: ");
  if (open == std::string::npos) return names;
  std::istringstream list(choice.substr(open + 8, choice.size() - open - 9));
  for (std::string entry; std::getline(list, entry, ',');) {
    if (entry.starts_with(" ")) entry.erase(0, 1);
    if (!entry.ends_with(" ms")) continue;  // "b (other results)": not timed
    entry.erase(entry.size() - 3);
    names.push_back(entry.substr(0, entry.rfind(' ')));
  }
  return names;
}

// The kernel a compiled plan runs for a step: its describe() line " 3 layer1.0.conv1 conv ... [name] ...".
std::string kernel_in_plan(const std::string& plan, const std::string& step) {
  std::istringstream lines(plan);
  for (std::string line; std::getline(lines, line);) {
    if (line.find(" " + step + " conv") == std::string::npos) continue;
    const size_t open = line.find('['), close = line.find(']', open);
    return open == std::string::npos ? line : line.substr(open + 1, close - open - 1);
  }
  return "(no step " + step + ")";
}

// A kernel the cache names is the kernel the plan runs, also when it is not oneDNN's first choice and
// oneDNN's primitive cache already holds the convolution (an untuned plan compiled before): then oneDNN lists
// the cached implementation first and every implementation again after it, so a kernel picked by its position
// in that list would be a different one. int8: where oneDNN has the most kernels for one convolution (f32
// nChw16c has one direct kernel besides Winograd).
TEST(PlanTuning, PlanRunsTheKernelTheCacheNamesNotItsNeighbour) {
  ops::set_num_threads(2);
  const fs::path cache = test::fresh_test_dir("plan_tuning") / "tuning.json";
  auto model = make_model("resnet18");
  const Tensor x = random_tensor(kInput, 45);
  Calibrator calibrator(*model, {});
  calibrator.observe(x);
  const auto calibration = std::make_shared<const Int8Calibration>(calibrator.finish());
  const PlanOptions tuned_int8 = {.int8 = calibration, .tune = true, .tuning_cache = cache.string()};
  const InferencePlan first = InferencePlan::compile(*model, Precision::int8, kInput, tuned_int8);
  // On a CPU with VNNI, oneDNN's int8 kernels for CPUs without it (names ending ":avx2", ":sse41",
  // ":avx512_core") halve the weights: never timed, never chosen.
  for (const std::string& choice : first.stats().tuned_kernels) {
    if (choice.find("vnni") == std::string::npos) continue;
    for (const std::string& name : timed_candidates(choice)) {
      EXPECT_FALSE(name.ends_with(":avx2") || name.ends_with(":sse41") || name.ends_with(":avx512_core"))
          << choice;
    }
  }
  // A kernel every basic block's second convolution (3x3, stride 1) could run, and not oneDNN's first
  // choice: the last candidate all of them timed.
  std::optional<std::vector<std::string>> common;
  for (const std::string& choice : first.stats().tuned_kernels) {
    if (choice.find(".conv2: ") == std::string::npos) continue;
    const std::vector<std::string> names = timed_candidates(choice);
    if (names.empty()) continue;  // read from the cache: a convolution of the same key timed them
    if (!common) {
      common = names;
    } else {
      std::erase_if(*common, [&](const std::string& n) {
        return std::find(names.begin(), names.end(), n) == names.end();
      });
    }
  }
  ASSERT_TRUE(common && common->size() >= 2) << "too few oneDNN kernels to choose from on this CPU";
  const std::string forced = common->back();
  nlohmann::json json = read_json(cache);
  for (auto& [machine, entries] : json["machines"].items()) {
    for (auto& [key, entry] : entries.items()) {
      if (key.find("x3x3:int8 groups 1 stride 1x1") != std::string::npos) entry["kernel"] = forced;
    }
  }
  write_text(cache, json.dump());

  InferencePlan untuned =
      InferencePlan::compile(*model, Precision::int8, kInput, {.int8 = calibration});  // fills oneDNN's cache
  InferencePlan plan = InferencePlan::compile(*model, Precision::int8, kInput, tuned_int8);
  int forced_steps = 0;
  for (const std::string& choice : plan.stats().tuned_kernels) {
    const std::string step = choice.substr(0, choice.find(": "));
    const std::string kernel = choice.substr(step.size() + 2, choice.find(" (") - step.size() - 2);
    EXPECT_EQ(kernel_in_plan(plan.describe(), step), kernel) << choice;
    forced_steps += kernel == forced;
  }
  EXPECT_GE(forced_steps, 8) << plan.describe();  // 8 blocks, each with a 3x3 stride-1 conv2
  // Only kernels that compute the untuned kernel's function were candidates (int8_conv_probe.h): not the
  // non-VNNI ones, whose halved weights put the logits ~1e-2 apart.
  EXPECT_LT(relative_difference(plan.run(x), untuned.run(x)), 1e-6);
}

TEST(PlanTuning, CorruptCacheWarnsAndIsTunedAgain) {
  ops::set_num_threads(2);
  const fs::path dir = test::fresh_test_dir("plan_tuning");
  auto model = make_model("resnet20");
  for (const std::string& text :
       {std::string("{\"format\": 2, \"machines\": [tr"), std::string("{\"format\": 7}"),
        std::string("{\"format\": 2, \"machines\": {\"x\": {\"conv\": 3}}}")}) {
    SCOPED_TRACE(text);
    const fs::path cache = dir / "tuning.json";
    write_text(cache, text);
    EXPECT_FALSE(tuning_cache_has_this_machine(cache.string()));
    testing::internal::CaptureStderr();
    InferencePlan plan = InferencePlan::compile(*model, Precision::f32, kSmallInput, tuned(cache));
    const std::string err = testing::internal::GetCapturedStderr();
    EXPECT_NE(err.find("warning: tuning cache ignored"), std::string::npos) << err;
    EXPECT_NE(err.find(cache.string()), std::string::npos) << err;
    EXPECT_GT(plan.stats().tuning_timings, 0);
    EXPECT_EQ(read_json(cache)["format"], 3);  // replaced by a valid one
    EXPECT_TRUE(tuning_cache_has_this_machine(cache.string()));
  }
}

TEST(PlanTuning, ForeignMachinesEntriesAreKeptAndThisOneTuned) {
  ops::set_num_threads(2);
  const fs::path cache = test::fresh_test_dir("plan_tuning") / "tuning.json";
  const std::string other = "Some Other CPU | avx2 | oneDNN 3.2.0";
  ASSERT_NE(other, infer::tuning_machine_key());
  write_text(cache,
             nlohmann::json{{"format", 3},
                            {"machines", {{other, {{"conv x", {{"kernel", "jit:avx2"}, {"ms", 1.0}}}}}}}}
                 .dump());
  EXPECT_FALSE(tuning_cache_has_this_machine(cache.string()));
  auto model = make_model("resnet20");
  InferencePlan plan = InferencePlan::compile(*model, Precision::f32, kSmallInput, tuned(cache));
  EXPECT_GT(plan.stats().tuning_timings, 0);
  const nlohmann::json j = read_json(cache);
  EXPECT_EQ(j["machines"][other]["conv x"]["kernel"], "jit:avx2");
  EXPECT_TRUE(j["machines"].contains(infer::tuning_machine_key()));
}

TEST(PlanTuning, CacheLivesUnderXdgCacheHomeElseHomeDotCache) {
  const fs::path dir = test::fresh_test_dir("plan_tuning");
  {
    ScopedEnv xdg("XDG_CACHE_HOME", (dir / "xdg").c_str());
    EXPECT_EQ(default_tuning_cache_path(), (dir / "xdg" / "resnet.cpp" / "tuning.json").string());
    ops::set_num_threads(2);
    auto model = make_model("resnet20");
    InferencePlan plan = InferencePlan::compile(*model, Precision::f32, kSmallInput, {.tune = true});
    EXPECT_EQ(plan.stats().tuning_cache, default_tuning_cache_path());
    EXPECT_TRUE(fs::exists(dir / "xdg" / "resnet.cpp" / "tuning.json"));
    EXPECT_TRUE(tuning_cache_has_this_machine());
  }
  {
    ScopedEnv xdg("XDG_CACHE_HOME", nullptr);
    ScopedEnv home("HOME", (dir / "home").c_str());
    EXPECT_EQ(default_tuning_cache_path(), (dir / "home" / ".cache" / "resnet.cpp" / "tuning.json").string());
    ScopedEnv relative("XDG_CACHE_HOME", "relative/dir");  // not absolute: ignored, as the XDG spec says
    EXPECT_EQ(default_tuning_cache_path(), (dir / "home" / ".cache" / "resnet.cpp" / "tuning.json").string());
  }
}

}  // namespace
}  // namespace resnet
