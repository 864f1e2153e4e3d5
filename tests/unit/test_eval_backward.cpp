// Eval with gradients (Module::set_eval_backward): layers compute as in eval, keep what backward needs, and
// batch norm's backward treats its running statistics as constants (torch's model.eval() + backward).
#include <gtest/gtest.h>

#include <cmath>

#include "nn/batchnorm2d.h"
#include "nn/dropout.h"
#include "resnet/error.h"
#include "resnet/model.h"
#include "resnet/zoo.h"
#include "unit/op_test_util.h"

namespace resnet {
namespace {

TEST(EvalBackward, BatchNormBackwardUsesRunningStatisticsAsConstants) {
  BatchNorm2d bn("bn", 5);
  bn.weight().value = test::random_tensor({5}, 1, 0.5f, 1.5f);
  bn.bias().value = test::random_tensor({5}, 2);
  bn.running_mean() = test::random_tensor({5}, 3);
  bn.running_var() = test::random_tensor({5}, 4, 0.2f, 2.0f);
  const Tensor mean_before = bn.running_mean().clone(), var_before = bn.running_var().clone();
  bn.set_training(false);
  bn.set_eval_backward(true);
  const Tensor x = test::random_tensor({2, 3, 4, 5}, 5), dy = test::random_tensor({2, 3, 4, 5}, 6);
  bn.forward(x);
  const Tensor dx = bn.backward(dy);

  Tensor expected(x.shape());
  std::vector<double> dweight(5, 0.0), dbias(5, 0.0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = i % 5;
    const double inv_std = 1.0 / std::sqrt(double(bn.running_var().f32()[c]) + 1e-5);
    expected.f32()[i] = float(dy.f32()[i] * bn.weight().value.f32()[c] * inv_std);
    dweight[size_t(c)] += dy.f32()[i] * (x.f32()[i] - bn.running_mean().f32()[c]) * inv_std;
    dbias[size_t(c)] += dy.f32()[i];
  }
  test::expect_close(dx, expected, 1e-5);
  for (int64_t c = 0; c < 5; ++c) {
    EXPECT_NEAR(bn.weight().grad.f32()[c], dweight[size_t(c)], 1e-4);
    EXPECT_NEAR(bn.bias().grad.f32()[c], dbias[size_t(c)], 1e-4);
  }
  test::expect_close(bn.running_mean(), mean_before, 0.0);  // not updated
  test::expect_close(bn.running_var(), var_before, 0.0);
}

TEST(EvalBackward, DropoutIsTheIdentityBothWays) {
  Dropout dropout("dropout", 0.5f, true, 7);
  dropout.set_training(false);
  dropout.set_eval_backward(true);
  const Tensor x = test::random_tensor({2, 3, 3, 4}, 8);
  test::expect_close(dropout.forward(x), x, 0.0);
  test::expect_close(dropout.backward(x), x, 0.0);
}

// Same logits as plain eval; the stage's gradient exists; plain eval still keeps nothing for backward.
TEST(EvalBackward, ModelLogitsAsInEvalAndGradientAtEveryStage) {
  ResNet model(zoo_config("resnet18", 10, 3), 11);
  model.set_training(false);
  const Tensor x = test::random_tensor({1, 32, 32, 3}, 12);
  const Tensor eval_logits = model.forward(x);
  EXPECT_THROW(model.backward_to("layer4", Tensor({1, 10})), InternalError);
  model.set_eval_backward(true);
  for (const std::string& stage : model.stage_names()) {
    Tensor activation;
    test::expect_close(model.forward(x, stage, activation), eval_logits, 0.0);
    Tensor dlogits({1, 10});
    dlogits.f32()[3] = 1.0f;
    const Tensor grad = model.backward_to(stage, dlogits);
    EXPECT_EQ(shape_str(grad.shape()), shape_str(activation.shape())) << stage;
  }
  Tensor unused;
  EXPECT_THROW(model.forward(x, "avgpool", unused), InputError);
}

}  // namespace
}  // namespace resnet
