// InferencePlan: the fused, compiled path gives the layer-by-layer model's logits; BN folding is the formula;
// plans for other batch sizes and sub-batch passes give the same per-image logits and share weights; Winograd
// convolutions give the direct ones' logits. (The buffer planner and the Winograd transforms have their own
// tests, test_buffer_planner.cpp and test_winograd_transforms.cpp.)
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "dnnl/ops.h"
#include "infer/fold.h"
#include "infer/lower.h"
#include "nn/batchnorm2d.h"
#include "resnet/error.h"
#include "resnet/model.h"
#include "resnet/plan.h"
#include "resnet/zoo.h"
#include "unit/op_test_util.h"
#include "unit/plan_test_util.h"

namespace resnet {
namespace {

using test::argmax_rows;
using test::expect_close_with_same_top1;
using test::make_model;
using test::random_batch_for;
using test::random_tensor;
using test::reduced_precision_archs;
using test::relative_difference;

// ---- BN folding ----

TEST(FoldBatchnorm, ConvThenFoldedBatchnormEqualsFoldedConv) {
  const Tensor x = random_tensor({2, 9, 7, 6}, 1);
  const Tensor w = random_tensor({8, 3, 3, 3}, 2);  // groups = 2
  const Tensor b = random_tensor({8}, 3);
  const infer::BatchNormParams bn{random_tensor({8}, 4, 0.5f, 2.0f), random_tensor({8}, 5),
                                  random_tensor({8}, 6), random_tensor({8}, 7, 0.1f, 3.0f), 1e-3f};
  const Window spec = Window::square(3, /*stride=*/2, /*padding=*/1, /*dilation=*/1, /*groups=*/2);
  const Tensor expected = ops::batchnorm_forward_inference(ops::conv2d_forward(x, w, b, spec), bn.gamma,
                                                           bn.beta, bn.mean, bn.var, bn.eps);
  const infer::FoldedConv folded = infer::fold_batchnorm(w, b, bn);
  EXPECT_LT(relative_difference(ops::conv2d_forward(x, folded.weight, folded.bias, spec), expected), 1e-5);
  // Channel 0 by the formula.
  const double scale = bn.gamma.f32()[0] / std::sqrt(double(bn.var.f32()[0]) + bn.eps);
  EXPECT_NEAR(folded.weight.f32()[5], w.f32()[5] * scale, 1e-6);
  EXPECT_NEAR(folded.bias.f32()[0], bn.beta.f32()[0] + (b.f32()[0] - bn.mean.f32()[0]) * scale, 1e-6);
}

// ---- the plan against the layer-by-layer model ----

struct PlanCase {
  std::string arch;
  Shape input;  // NHWC
  int classes = 0;
  float dropout = 0.0f;
};

std::string case_name(const PlanCase& c) {
  return fmt::format("{}_{}{}", c.arch, fmt::join(c.input, "_"), c.dropout > 0 ? "_dropout" : "");
}

class PlanMatchesModel : public ::testing::TestWithParam<PlanCase> {};

TEST_P(PlanMatchesModel, F32LogitsEqualLayerByLayerWithin1e4) {
  const PlanCase& c = GetParam();
  ops::set_num_threads(2);
  auto model = make_model(c.arch, static_cast<int>(c.input[3]), c.classes, c.dropout);
  const Tensor x = random_tensor(c.input, 42);
  const Tensor expected = model->forward(x);
  InferencePlan plan = InferencePlan::compile(*model, Precision::f32, c.input);
  const Tensor logits = plan.run(x);
  EXPECT_LT(relative_difference(logits, expected), 1e-4) << plan.describe();
  // A second run on the same plan (buffers reused, weights intact) gives the same.
  const Tensor again = plan.run(x);
  EXPECT_EQ(relative_difference(again, logits), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Zoo, PlanMatchesModel,
                         ::testing::Values(PlanCase{"resnet18", {2, 64, 64, 3}},
                                           PlanCase{"resnet18", {1, 97, 131, 3}},    // odd sizes
                                           PlanCase{"resnet18", {2, 45, 33, 1}, 7},  // 1 channel, 7 classes
                                           PlanCase{"resnet50", {2, 64, 64, 3}},
                                           PlanCase{"resnext50_32x4d", {1, 64, 64, 3}},
                                           PlanCase{"wide_resnet50_2", {1, 35, 35, 3}},
                                           PlanCase{"resnet20", {3, 32, 32, 3}},  // CIFAR: zero-pad shortcut
                                           PlanCase{"resnet32", {2, 29, 31, 1}, 10},  // CIFAR, odd, 1 channel
                                           PlanCase{"resnet18", {2, 64, 64, 3}, 0, 0.2f}),
                         [](const auto& info) { return case_name(info.param); });

// bf16 (weights and activations rounded to 8 bits of mantissa, f32 accumulation): logits within 5% of the
// largest f32 logit, and the same top-1 wherever the f32 winner leads by more than that error.
TEST(PlanBf16, LogitsCloseToF32WithSameTop1) {
  ops::set_num_threads(2);
  for (const std::string& arch : reduced_precision_archs()) {
    SCOPED_TRACE(arch);
    auto model = make_model(arch);
    const Tensor x = random_batch_for(arch);
    const Tensor expected = model->forward(x);
    const Tensor logits = InferencePlan::compile(*model, Precision::bf16, x.shape()).run(x);
    ASSERT_EQ(logits.dtype(), DType::f32);
    expect_close_with_same_top1(logits, expected, 5e-2);
  }
}

TEST(Plan, ReshapedPlansGiveTheSamePerImageLogitsAndShareWeights) {
  ops::set_num_threads(2);
  auto model = make_model("resnet18");
  const Tensor x4 = random_tensor({4, 48, 48, 3}, 44);
  InferencePlan plan4 = InferencePlan::compile(*model, Precision::f32, x4.shape());
  EXPECT_GT(plan4.stats().weight_reorders, 0);
  const Tensor logits4 = plan4.run(x4);

  InferencePlan plan2 = plan4.reshaped({2, 48, 48, 3});
  EXPECT_EQ(plan2.stats().weight_reorders, 0) << "batch 2 picked other weight layouts than batch 4";
  InferencePlan plan1 = plan4.reshaped({1, 48, 48, 3});
  const int64_t per_image = 48 * 48 * 3;
  for (int64_t i = 0; i < 4; ++i) {
    Tensor one = Tensor::empty({1, 48, 48, 3});
    std::copy_n(x4.f32() + i * per_image, per_image, one.f32());
    const Tensor got = plan1.run(one);
    const Tensor want = Tensor::from_vector(
        {1, 1000}, std::vector<float>(logits4.f32() + i * 1000, logits4.f32() + (i + 1) * 1000));
    EXPECT_LT(relative_difference(got, want), 1e-5) << "image " << i;
  }
}

TEST(Plan, SubBatchPassesGiveTheSameLogitsAsOnePass) {
  ops::set_num_threads(2);
  auto model = make_model("resnet20");
  const Tensor x = random_tensor({5, 32, 32, 3}, 46);
  InferencePlan whole = InferencePlan::compile(*model, Precision::f32, x.shape());
  InferencePlan passes = InferencePlan::compile(*model, Precision::f32, x.shape(), {.sub_batch = 2});
  EXPECT_EQ(passes.stats().passes, 3);  // 2 + 2 + 1
  EXPECT_LT(passes.stats().activation_bytes, whole.stats().activation_bytes);
  EXPECT_LT(relative_difference(passes.run(x), whole.run(x)), 1e-5);
  EXPECT_EQ(passes.reshaped({6, 32, 32, 3}).stats().passes, 3);
}

TEST(Plan, KeepsItsOwnCopyOfTheWeights) {
  ops::set_num_threads(2);
  auto model = make_model("resnet20");
  const Tensor x = random_tensor({2, 32, 32, 3}, 45);
  InferencePlan plan = InferencePlan::compile(*model, Precision::f32, x.shape());
  const Tensor before = plan.run(x);
  for (Parameter* p : model->parameters()) p->value.fill(0.0f);
  EXPECT_EQ(relative_difference(plan.run(x), before), 0.0);
  // A reshaped plan still has the weights of the compile, not the zeroed model's.
  EXPECT_EQ(relative_difference(plan.reshaped(x.shape()).run(x), before), 0.0);
}

TEST(Plan, FusesEveryResidualJoinAndPlansMemoryNearTheLargestLiveSet) {
  ops::set_num_threads(2);
  auto model = make_model("resnet50");
  InferencePlan plan = InferencePlan::compile(*model, Precision::f32, {2, 224, 224, 3});
  const PlanStats& s = plan.stats();
  EXPECT_EQ(s.fused_residuals, 16);  // 3 + 4 + 6 + 3 bottlenecks
  // input reorder, stem conv, max-pool, 16 blocks x 3 convs + 4 downsample convs, avg-pool, fc
  EXPECT_EQ(s.primitives, 1 + 1 + 1 + 16 * 3 + 4 + 1 + 1);
  EXPECT_GE(s.activation_bytes, s.activation_live_peak);
  EXPECT_LE(s.activation_bytes, s.activation_live_peak * 5 / 4) << plan.describe();
  EXPECT_LT(s.activation_bytes * 3, s.activation_sum_bytes) << plan.describe();
}

TEST(Plan, RefusesInputsOfAnotherShape) {
  auto model = make_model("resnet20");
  InferencePlan plan = InferencePlan::compile(*model, Precision::f32, {2, 32, 32, 3});
  EXPECT_THROW(plan.run(random_tensor({1, 32, 32, 3}, 1)), InputError);
  EXPECT_THROW(InferencePlan::compile(*model, Precision::f32, {2, 32, 32, 1}), InputError);
  EXPECT_THROW(InferencePlan::compile(*model, Precision::f32, {2, 32, 32}), InputError);
}

TEST(Plan, ParsesPrecisionNames) {
  EXPECT_EQ(parse_precision("f32"), Precision::f32);
  EXPECT_EQ(parse_precision("bf16"), Precision::bf16);
  EXPECT_EQ(precision_name(Precision::bf16), "bf16");
  EXPECT_THROW(parse_precision("fp16"), InputError);
}

// resnet18 accumulates the residual into its 3x3 conv2 (the fused sum); resnet50's 3x3 convs sit inside
// bottlenecks. Odd image sizes leave partial tiles; a batch of 3 is not a multiple of any image group > 1.
TEST(Plan, WinogradGivesTheDirectPlansLogits) {
  ops::set_num_threads(2);
  for (const std::string arch : {"resnet18", "resnet50"}) {
    SCOPED_TRACE(arch);
    auto model = make_model(arch);
    const Tensor x = random_tensor({3, 61, 75, 3}, 47);
    InferencePlan winograd = InferencePlan::compile(*model, Precision::f32, x.shape());
    InferencePlan direct = InferencePlan::compile(*model, Precision::f32, x.shape(), {.winograd = false});
    EXPECT_NE(winograd.describe().find("winograd"), std::string::npos) << winograd.describe();
    EXPECT_EQ(direct.describe().find("winograd"), std::string::npos) << direct.describe();
    const Tensor logits = winograd.run(x);
    EXPECT_LT(relative_difference(logits, direct.run(x)), 1e-5);
    EXPECT_LT(relative_difference(logits, model->forward(x)), 1e-4);
  }
}

}  // namespace
}  // namespace resnet
