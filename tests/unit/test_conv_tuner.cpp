// ConvTuner's choice rule on candidates of known speed (busy-waits, no oneDNN): the untuned kernel (the first
// candidate) is kept unless another is 5% faster, and a short kernel is timed over several runs per sample.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "infer/onednn/conv_tuner.h"
#include "unit/train_test_helpers.h"

namespace resnet {
namespace {

namespace fs = std::filesystem;

void busy_wait(double ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double, std::milli>(ms);
  while (std::chrono::steady_clock::now() < until) {
  }
}

// A candidate that takes `ms` per run and counts its runs.
infer::ConvCandidate candidate(const std::string& name, double ms, std::shared_ptr<int> runs = nullptr) {
  if (!runs) runs = std::make_shared<int>(0);
  return {name, [ms, runs] { return std::function<void()>([ms, runs] { busy_wait(ms), ++*runs; }); }, {}};
}

std::string choose(const std::vector<infer::ConvCandidate>& candidates) {
  const fs::path dir = test::fresh_test_dir("conv_tuner");
  infer::TuningCache cache((dir / "tuning.json").string());
  infer::ConvTuner tuner(cache);
  return tuner.choose("conv", "conv key", candidates);
}

TEST(ConvTuner, KeepsTheUntunedKernelAgainstOneBarelyFaster) {
  EXPECT_EQ(choose({candidate("untuned", 2.0), candidate("barely_faster", 1.98)}), "untuned");
}

TEST(ConvTuner, TakesAKernelThatIsClearlyFaster) {
  EXPECT_EQ(choose({candidate("untuned", 2.0), candidate("slower", 3.0), candidate("faster", 1.0)}),
            "faster");
}

TEST(ConvTuner, TimesAShortKernelOverSeveralRunsPerSample) {
  auto runs = std::make_shared<int>(0);
  choose({candidate("untuned", 0.5), candidate("short", 0.05, runs)});
  // A warm-up, then at least 3 rounds of samples of >= 1 ms (~20 runs of 0.05 ms each).
  EXPECT_GE(*runs, 1 + 3 * 10);
}

TEST(ConvTuner, RecordsTheChoiceWithEveryCandidatesTime) {
  const fs::path dir = test::fresh_test_dir("conv_tuner");
  infer::TuningCache cache((dir / "tuning.json").string());
  infer::ConvTuner tuner(cache);
  tuner.choose("layer1.0.conv2", "conv key", {candidate("untuned", 1.0), candidate("faster", 0.4)});
  ASSERT_EQ(tuner.choices().size(), 1u);
  const std::string& choice = tuner.choices().front();
  EXPECT_EQ(choice.rfind("layer1.0.conv2: faster (timed: untuned ", 0), 0u) << choice;
  EXPECT_NE(choice.find(", faster 0.4"), std::string::npos) << choice;
  EXPECT_EQ(tuner.timings(), 2);
  EXPECT_EQ(cache.lookup(infer::tuning_machine_key(), "conv key"), "faster");
}

}  // namespace
}  // namespace resnet
