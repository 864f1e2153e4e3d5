// Softmax cross-entropy with label smoothing: torch's F.cross_entropy loss and gradient (fixtures by
// tests/oracle/make_optim_fixtures.py), top-1/top-k counts, and clear errors for bad labels.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <iostream>

#include "input_error.h"
#include "resnet/error.h"
#include "resnet/loss.h"
#include "unit/optim_oracle.h"

namespace resnet {
namespace {

using nlohmann::json;
using optim_oracle::array;
using optim_oracle::manifest;
using optim_oracle::max_scaled_diff;
using test::expect_input_error;

TEST(LossOracle, EqualsTorchCrossEntropyWithLabelSmoothing) {
  REQUIRE_OPTIM_ORACLE();
  double worst_loss = 0.0, worst_grad = 0.0, worst_loss_f32 = 0.0, worst_grad_f32 = 0.0;
  for (const json& c : manifest()["loss"]) {
    SCOPED_TRACE(c["case"].get<std::string>());
    const Tensor logits = array(c["logits"]);
    const auto labels = c["labels"].get<std::vector<int64_t>>();
    const CrossEntropy ce = softmax_cross_entropy(logits, labels, c["label_smoothing"]);
    ASSERT_EQ(ce.grad.shape(), logits.shape());
    // Against torch in float64 on the same float32 logits (the exact answer) ...
    const double loss = c["loss"], loss_f32 = c["loss_f32"];
    const double scale = std::max(std::abs(loss), 1e-30);
    EXPECT_LE(std::abs(ce.loss - loss) / scale, 1e-12) << ce.loss << " vs " << loss;
    EXPECT_LE(max_scaled_diff(ce.grad, array(c["grad"])), 1e-6);
    // ... and against torch in float32, the contract's tolerances.
    EXPECT_LE(std::abs(ce.loss - loss_f32) / scale, 1e-6) << ce.loss << " vs " << loss_f32;
    EXPECT_LE(max_scaled_diff(ce.grad, array(c["grad_f32"])), 1e-5);
    worst_loss = std::max(worst_loss, std::abs(ce.loss - loss) / scale);
    worst_grad = std::max(worst_grad, max_scaled_diff(ce.grad, array(c["grad"])));
    worst_loss_f32 = std::max(worst_loss_f32, std::abs(ce.loss - loss_f32) / scale);
    worst_grad_f32 = std::max(worst_grad_f32, max_scaled_diff(ce.grad, array(c["grad_f32"])));

    EXPECT_EQ(ce.correct, c["correct"].get<int64_t>());
    EXPECT_EQ(count_top_k_correct(logits, labels, 1), ce.correct);
    if (c.contains("top5")) {
      EXPECT_EQ(count_top_k_correct(logits, labels, 5), c["top5"].get<int64_t>());
    }
  }
  std::cout << "cross-entropy vs torch float64: loss rel " << worst_loss << ", grad " << worst_grad
            << "; vs torch float32: loss rel " << worst_loss_f32 << ", grad " << worst_grad_f32
            << " (grad differences relative to the largest |grad|)\n";
}

TEST(Loss, SmoothingMovesTheTargetTowardsUniform) {
  // Two classes, equal logits: p = 1/2 each; the gradient is (p - target) / N with target = (1 - eps) *
  // onehot
  // + eps / C.
  const Tensor logits = Tensor::from_vector({2, 2}, {0, 0, 3, 3});
  const std::vector<int64_t> labels = {0, 1};
  const CrossEntropy ce = softmax_cross_entropy(logits, labels, 0.2);
  EXPECT_NEAR(ce.loss, std::log(2.0), 1e-15);
  EXPECT_FLOAT_EQ(ce.grad.f32()[0], (0.5f - 0.9f) / 2);
  EXPECT_FLOAT_EQ(ce.grad.f32()[1], (0.5f - 0.1f) / 2);
  EXPECT_FLOAT_EQ(ce.grad.f32()[3], (0.5f - 0.9f) / 2);
  EXPECT_EQ(ce.correct, 1);  // ties: the first maximum is the prediction
}

TEST(Loss, HugeLogitsStayFinite) {
  const Tensor logits = Tensor::from_vector({2, 3}, {3e38f, -3e38f, 0, -1e30f, 1e30f, 1e30f});
  const std::vector<int32_t> labels = {0, 2};
  const CrossEntropy ce = softmax_cross_entropy(logits, labels, 0.0);
  EXPECT_NEAR(ce.loss, std::log(2.0) / 2, 1e-12);
  for (int64_t i = 0; i < ce.grad.numel(); ++i) EXPECT_TRUE(std::isfinite(ce.grad.f32()[i]));
  EXPECT_EQ(ce.correct, 1);
}

TEST(Loss, Int32AndInt64LabelsAgree) {
  const Tensor logits = Tensor::from_vector({3, 4}, {1, 2, 3, 4, -1, 0.5, 2, 0, 9, 8, 7, 6});
  const CrossEntropy a = softmax_cross_entropy(logits, std::vector<int64_t>{3, 1, 0}, 0.1);
  const CrossEntropy b = softmax_cross_entropy(logits, std::vector<int32_t>{3, 1, 0}, 0.1);
  EXPECT_EQ(a.loss, b.loss);
  EXPECT_EQ(a.correct, 2);
  EXPECT_EQ(b.correct, 2);
  for (int64_t i = 0; i < a.grad.numel(); ++i) EXPECT_EQ(a.grad.f32()[i], b.grad.f32()[i]);
}

TEST(Loss, TopKCountsLabelsAmongTheKHighest) {
  const Tensor logits = Tensor::from_vector({2, 4}, {4, 3, 2, 1, 1, 1, 1, 1});
  const std::vector<int64_t> labels = {2, 3};
  EXPECT_EQ(count_top_k_correct(logits, labels, 1), 0);
  EXPECT_EQ(count_top_k_correct(logits, labels, 2), 0);
  EXPECT_EQ(count_top_k_correct(logits, labels, 3), 1);
  EXPECT_EQ(count_top_k_correct(logits, labels, 4), 2);  // the tied label ranks behind equal, earlier classes
  EXPECT_EQ(count_top_k_correct(logits, labels, 10), 2);
}

TEST(Loss, RejectsLabelsOutsideTheClassesAndMismatchedShapes) {
  const Tensor logits = Tensor::zeros({3, 10});
  expect_input_error(
      [&] {
        softmax_cross_entropy(logits, std::vector<int64_t>{0, 1, 10});
      },
      "label 10 of batch row 2 is outside [0, 10)");
  expect_input_error(
      [&] {
        softmax_cross_entropy(logits, std::vector<int32_t>{-1, 1, 2});
      },
      "label -1 of batch row 0");
  expect_input_error(
      [&] {
        softmax_cross_entropy(logits, std::vector<int64_t>{0, 1});
      },
      "2 labels for 3 rows");
  expect_input_error(
      [&] {
        softmax_cross_entropy(Tensor::zeros({3}), std::vector<int64_t>{0, 1, 2});
      },
      "logits must be f32 [N, C] with N, C >= 1, got f32 [3]");
  expect_input_error(
      [&] {
        softmax_cross_entropy(logits, std::vector<int64_t>{0, 1, 2}, 1.5);
      },
      "label smoothing must be in [0, 1]");
  expect_input_error(
      [&] {
        count_top_k_correct(logits, std::vector<int64_t>{0, 1, 2}, 0);
      },
      "k must be >= 1");
}

}  // namespace
}  // namespace resnet
