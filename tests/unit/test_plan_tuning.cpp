// Per-machine tuning of the plan's convolutions (PlanOptions::tune, src/infer/onednn/conv_tuner.h) and its
// cache (src/infer/tuning_cache.h): a tuned plan computes the untuned plan's function, a second compile reads
// the cache and times nothing, a corrupt or foreign cache is tuned again (never an error), and the cache
// lives where XDG says.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "dnnl/ops.h"
#include "infer/onednn/conv_tuner.h"
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
  // Not the same bits, though: two compiles with the same choices differed by ~4-6e-7 relative (5 runs in 6
  // on AMD Zen 4; the cause is not found yet) -- far inside the f32 plan's tolerance against the model.
  const Tensor x = random_tensor(kInput, 44);
  EXPECT_LT(relative_difference(second.run(x), first.run(x)), 1e-5) << first.describe() << "\n---\n"
                                                                    << second.describe();
}

TEST(PlanTuning, CorruptCacheWarnsAndIsTunedAgain) {
  ops::set_num_threads(2);
  const fs::path dir = test::fresh_test_dir("plan_tuning");
  auto model = make_model("resnet20");
  for (const std::string& text :
       {std::string("{\"format\": 1, \"machines\": [tr"), std::string("{\"format\": 7}"),
        std::string("{\"format\": 1, \"machines\": {\"x\": {\"conv\": 3}}}")}) {
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
    EXPECT_EQ(read_json(cache)["format"], 1);  // replaced by a valid one
    EXPECT_TRUE(tuning_cache_has_this_machine(cache.string()));
  }
}

TEST(PlanTuning, ForeignMachinesEntriesAreKeptAndThisOneTuned) {
  ops::set_num_threads(2);
  const fs::path cache = test::fresh_test_dir("plan_tuning") / "tuning.json";
  const std::string other = "Some Other CPU | avx2 | oneDNN 3.2.0";
  ASSERT_NE(other, infer::tuning_machine_key());
  write_text(cache,
             nlohmann::json{{"format", 1},
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
