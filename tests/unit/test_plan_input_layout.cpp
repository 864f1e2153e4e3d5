// PlanOptions::input_layout: a plan compiled for NCHW images (PyTorch's layout; the Python binding's
// zero-copy path) reads them straight into its input reorder and gives bitwise the logits of the NHWC plan on
// the same images: the layouts differ only in the reorder's source, every later step is the same.
#include <gtest/gtest.h>

#include <cstring>

#include "resnet/error.h"
#include "resnet/plan.h"
#include "resnet/unet.h"
#include "unit/op_test_util.h"
#include "unit/plan_test_util.h"

namespace resnet {
namespace {

using test::make_model;
using test::random_tensor;

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.f32(), b.f32(), a.numel() * sizeof(float)) == 0;
}

PlanOptions nchw_options(int64_t sub_batch = 0) {
  PlanOptions options;
  options.sub_batch = sub_batch;
  options.input_layout = ImageLayout::nchw;
  return options;
}

class PlanInputLayout : public ::testing::TestWithParam<Precision> {};

// Batch 3 in sub-batches of 2: the second pass starts at image 2 of the NCHW buffer.
TEST_P(PlanInputLayout, NchwImagesGiveTheNhwcPlansLogitsBitwise) {
  auto model = make_model("resnet18", 3, 10);
  const Tensor nhwc = random_tensor({3, 40, 36, 3}, 5);
  const Tensor nchw = nhwc_to_nchw(nhwc);
  InferencePlan reference = InferencePlan::compile(*model, GetParam(), nhwc.shape(), {.sub_batch = 2});
  InferencePlan plan = InferencePlan::compile(*model, GetParam(), nchw.shape(), nchw_options(2));
  EXPECT_EQ(plan.input_shape(), (Shape{3, 3, 40, 36}));
  EXPECT_EQ(plan.output_shape(), (Shape{3, 10}));
  const Tensor expected = reference.run(nhwc);
  EXPECT_TRUE(bitwise_equal(plan.run(nchw), expected));
  Tensor logits = Tensor::empty(plan.output_shape());
  plan.run(nchw.f32(), logits);  // the caller's own buffer
  EXPECT_TRUE(bitwise_equal(logits, expected));
}

INSTANTIATE_TEST_SUITE_P(Precisions, PlanInputLayout, ::testing::Values(Precision::f32, Precision::bf16),
                         [](const auto& info) { return std::string(precision_name(info.param)); });

TEST(PlanInputLayout, ReshapedKeepsTheLayout) {
  auto model = make_model("resnet18", 1, 4);
  InferencePlan plan = InferencePlan::compile(*model, Precision::f32, {1, 1, 32, 32}, nchw_options());
  InferencePlan bigger = plan.reshaped({2, 1, 48, 40});
  const Tensor nhwc = random_tensor({2, 48, 40, 1}, 9);
  InferencePlan reference = InferencePlan::compile(*model, Precision::f32, nhwc.shape());
  EXPECT_TRUE(bitwise_equal(bigger.run(nhwc_to_nchw(nhwc)), reference.run(nhwc)));
}

TEST(PlanInputLayout, NhwcImagesOnAnNchwPlanAreRefused) {
  auto model = make_model("resnet18", 3, 10);
  InferencePlan plan = InferencePlan::compile(*model, Precision::f32, {1, 3, 32, 32}, nchw_options());
  EXPECT_THROW(plan.run(random_tensor({1, 32, 32, 3}, 1)), InputError);
  Tensor logits = Tensor::empty(plan.output_shape());
  EXPECT_THROW(plan.run(static_cast<const float*>(nullptr), logits), InputError);
}

TEST(PlanInputLayout, UNetTakesNchwImagesAndChecksTheirHeightAndWidth) {
  UNet model(
      unet_zoo_config("unet-resnet18", /*classes=*/3, /*in_channels=*/3, /*encoder_depth=*/3, {32, 16, 16}),
      7);
  model.set_training(false);
  const Tensor nhwc = random_tensor({1, 32, 24, 3}, 3);
  InferencePlan reference = InferencePlan::compile(model, Precision::f32, nhwc.shape());
  InferencePlan plan = InferencePlan::compile(model, Precision::f32, {1, 3, 32, 24}, nchw_options());
  EXPECT_TRUE(bitwise_equal(plan.run(nhwc_to_nchw(nhwc)), reference.run(nhwc)));
  try {
    InferencePlan::compile(model, Precision::f32, {1, 3, 32, 20}, nchw_options());
    FAIL() << "a width of 20 is not a multiple of 8";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("got 32x20"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace resnet
