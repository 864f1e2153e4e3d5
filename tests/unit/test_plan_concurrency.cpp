// InferencePlan under concurrency (the contract in resnet/plan.h and docs/RELIABILITY.md, "Concurrency"): one
// plan called from many threads at once gives, call for call, bitwise the logits of the same call made alone;
// each concurrent call runs in an execution context of its own from the plan's pool. Also run by the TSan
// build (make test-sanitize), where a data race between two runs fails the test.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <latch>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "dnnl/ops.h"
#include "resnet/plan.h"
#include "resnet/unet.h"
#include "unit/op_test_util.h"
#include "unit/plan_test_util.h"

namespace resnet {
namespace {

using test::make_model;
using test::random_tensor;

constexpr int kThreads = 8;
constexpr int kInputs = 16;  // distinct inputs; call i of thread t takes input (7 t + i) mod kInputs

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.f32(), b.f32(), a.numel() * sizeof(float)) == 0;
}

std::vector<Tensor> random_inputs(const Shape& shape) {
  std::vector<Tensor> inputs;
  for (int i = 0; i < kInputs; ++i) inputs.push_back(random_tensor(shape, 1000 + i));
  return inputs;
}

// kThreads threads, started together, each making `calls` calls of call(input index) and comparing the result
// with expected[input index] bit for bit. Returns the number of calls that differed. Every thread runs with
// the caller's OpenMP thread count (a new thread starts from OMP_NUM_THREADS).
template <class Call>
int mismatches_of_concurrent_calls(int calls, const std::vector<std::vector<Tensor>>& expected, Call call) {
  const int threads_per_call = ops::num_threads();
  std::atomic<int> mismatches{0};
  std::latch start(kThreads);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      ops::set_num_threads(threads_per_call);
      start.arrive_and_wait();
      for (int i = 0; i < calls; ++i) {
        const int k = (7 * t + i) % kInputs;
        const std::vector<Tensor> out = call(k);
        for (size_t o = 0; o < out.size(); ++o)
          if (!bitwise_equal(out[o], expected[size_t(k)][o])) ++mismatches;
      }
    });
  }
  for (std::thread& worker : workers) worker.join();
  return mismatches.load();
}

struct ConcurrencyCase {
  std::string name;
  std::string arch;
  Precision precision = Precision::f32;
  Shape input;  // NHWC
  int64_t sub_batch = 0;
  int calls = 100;  // per thread
};

class PlanConcurrency : public ::testing::TestWithParam<ConcurrencyCase> {};

// 8 threads x 100 calls of run() on one plan (25 for ResNet-50, to keep the suite fast).
TEST_P(PlanConcurrency, EightThreadsOfRunGiveTheSerialLogitsBitwise) {
  const ConcurrencyCase& c = GetParam();
  auto model = make_model(c.arch);
  InferencePlan plan =
      InferencePlan::compile(*model, c.precision, c.input, PlanOptions{.sub_batch = c.sub_batch});
  const std::vector<Tensor> inputs = random_inputs(c.input);
  std::vector<std::vector<Tensor>> expected;
  for (const Tensor& x : inputs) expected.push_back({plan.run(x)});
  EXPECT_EQ(plan.execution_contexts(), 1);  // serial calls reuse the first context

  EXPECT_EQ(mismatches_of_concurrent_calls(c.calls, expected,
                                           [&](int k) { return std::vector{plan.run(inputs[k])}; }),
            0);
  EXPECT_GE(plan.execution_contexts(), 1);
  EXPECT_LE(plan.execution_contexts(), kThreads);
}

INSTANTIATE_TEST_SUITE_P(
    Plans, PlanConcurrency,
    ::testing::Values(
        // Winograd convolutions (channels 16/32/64, 8x8 tiles) and zero-padding shortcuts.
        ConcurrencyCase{.name = "resnet20_f32", .arch = "resnet20", .input = {1, 32, 32, 3}},
        ConcurrencyCase{.name = "resnet20_bf16",
                        .arch = "resnet20",
                        .precision = Precision::bf16,
                        .input = {1, 32, 32, 3}},
        // Two passes (2 + 1 images) sharing a context's arena.
        ConcurrencyCase{
            .name = "resnet20_f32_sub_batch", .arch = "resnet20", .input = {3, 32, 32, 3}, .sub_batch = 2},
        // Bottlenecks, downsample projections, max pool.
        ConcurrencyCase{.name = "resnet50_f32", .arch = "resnet50", .input = {1, 32, 32, 3}, .calls = 25}),
    [](const ::testing::TestParamInfo<ConcurrencyCase>& info) { return info.param.name; });

TEST(PlanConcurrency, RunFeaturesFromEightThreadsGivesTheSerialFeaturesBitwise) {
  auto model = make_model("resnet20");
  const Shape shape{1, 32, 32, 3};
  InferencePlan plan = InferencePlan::compile_features(*model, {"layer1", "layer3"}, Precision::f32, shape);
  const std::vector<Tensor> inputs = random_inputs(shape);
  std::vector<std::vector<Tensor>> expected;
  for (const Tensor& x : inputs) expected.push_back(plan.run_features(x));
  EXPECT_EQ(mismatches_of_concurrent_calls(25, expected, [&](int k) { return plan.run_features(inputs[k]); }),
            0);
}

// Upsample, concat and the pixel logits' output reorder.
TEST(PlanConcurrency, UNetFromEightThreadsGivesTheSerialLogitsBitwise) {
  UNet model(
      unet_zoo_config("unet-resnet18", /*classes=*/3, /*in_channels=*/3, /*encoder_depth=*/3, {32, 16, 16}),
      7);
  model.set_training(false);
  const Shape shape{1, 32, 32, 3};
  InferencePlan plan = InferencePlan::compile(model, Precision::f32, shape);
  const std::vector<Tensor> inputs = random_inputs(shape);
  std::vector<std::vector<Tensor>> expected;
  for (const Tensor& x : inputs) expected.push_back({plan.run(x)});
  EXPECT_EQ(
      mismatches_of_concurrent_calls(25, expected, [&](int k) { return std::vector{plan.run(inputs[k])}; }),
      0);
}

// A run that throws midway (here its observer) gives its context back: later calls reuse it and still give
// the same logits.
TEST(PlanConcurrency, ARunThatThrowsGivesItsContextBack) {
  auto model = make_model("resnet20");
  InferencePlan plan = InferencePlan::compile(*model, Precision::f32, {1, 32, 32, 3});
  const Tensor x = random_tensor({1, 32, 32, 3}, 5);
  const Tensor expected = plan.run(x);
  Tensor logits = Tensor::empty(plan.output_shape());
  EXPECT_THROW(
      plan.run_observed(x, logits, [](std::string_view, const Tensor&) { throw std::runtime_error("stop"); }),
      std::runtime_error);
  EXPECT_TRUE(bitwise_equal(plan.run(x), expected));
  EXPECT_EQ(plan.execution_contexts(), 1);
}

}  // namespace
}  // namespace resnet
