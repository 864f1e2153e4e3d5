// Segmentation metrics on hand-computed cases (confusion matrix, pixel accuracy, per-class IoU, mIoU over the
// classes present), and the losses' input checks. The losses' values are checked against torch/smp in
// tests/parity/test_segmentation_loss.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "resnet/error.h"
#include "resnet/segmentation_loss.h"

namespace resnet {
namespace {

Tensor classes(Shape shape, const std::vector<uint8_t>& values) {
  Tensor t(std::move(shape), DType::u8);
  for (size_t i = 0; i < values.size(); ++i) t.data_as<uint8_t>()[i] = values[i];
  return t;
}

// target    predicted      (one image 2x4, classes 0..3, 255 ignored)
// 0 0 1 1   0 1 1 1
// 2 2 255 0 2 0 3 0
// Counted: 7 pixels (the ignored one left out, whatever its prediction). Correct: 0,1,1,2,0 -> 5.
// Class 0: target {0,1,7}, predicted {0,5,7}, both {0,7}: IoU 2/4. Class 1: target {2,3}, predicted {1,2,3}:
// 2/3. Class 2: target {4,5}, predicted {4}: 1/2. Class 3: in neither (its prediction was on the ignored
// pixel): not present. mIoU = (1/2 + 2/3 + 1/2) / 3.
TEST(ConfusionMatrix, HandComputedAccuracyIouAndMeanIou) {
  ConfusionMatrix m(4, 255);
  m.add(classes({1, 2, 4}, {0, 1, 1, 1, 2, 0, 3, 0}), classes({1, 2, 4}, {0, 0, 1, 1, 2, 2, 255, 0}));
  EXPECT_EQ(m.total(), 7);
  EXPECT_EQ(m.count(0, 1), 1);
  EXPECT_EQ(m.count(2, 0), 1);
  EXPECT_DOUBLE_EQ(m.pixel_accuracy(), 5.0 / 7.0);
  EXPECT_DOUBLE_EQ(m.iou(0), 0.5);
  EXPECT_DOUBLE_EQ(m.iou(1), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.iou(2), 0.5);
  EXPECT_FALSE(m.present(3));
  EXPECT_DOUBLE_EQ(m.iou(3), 0.0);
  EXPECT_DOUBLE_EQ(m.mean_iou(), (0.5 + 2.0 / 3.0 + 0.5) / 3.0);
  EXPECT_EQ(m.per_class_iou().size(), 4u);
}

// A class predicted but never in the target is present: its IoU 0 pulls the mean down.
TEST(ConfusionMatrix, AccumulatesOverBatchesAndCountsFalsePositiveClasses) {
  ConfusionMatrix m(3, 255);
  m.add(classes({1, 1, 2}, {0, 0}), classes({1, 1, 2}, {0, 0}));
  EXPECT_DOUBLE_EQ(m.mean_iou(), 1.0);
  m.add(classes({1, 1, 2}, {2, 0}), classes({1, 1, 2}, {0, 0}));
  EXPECT_EQ(m.total(), 4);
  EXPECT_DOUBLE_EQ(m.pixel_accuracy(), 0.75);
  EXPECT_DOUBLE_EQ(m.iou(0), 0.75);
  EXPECT_TRUE(m.present(2));
  EXPECT_DOUBLE_EQ(m.mean_iou(), (0.75 + 0.0) / 2.0);
}

// Logits NHWC: the first maximum over K (ties to the lower class); K = 1: class 1 where the logit is > 0.
TEST(ConfusionMatrix, PredictsFromLogits) {
  ConfusionMatrix m(3, 255);
  const Tensor logits = Tensor::from_vector({1, 1, 3, 3}, {0, 5, 1, 2, 2, 0, -1, -2, -3});
  m.add_logits(logits, classes({1, 1, 3}, {1, 0, 0}));
  EXPECT_EQ(m.count(1, 1), 1);
  EXPECT_EQ(m.count(0, 0), 2);
  ConfusionMatrix binary(2, 255);
  binary.add_logits(Tensor::from_vector({1, 1, 3, 1}, {0.5f, 0.0f, -1.0f}), classes({1, 1, 3}, {1, 1, 255}));
  EXPECT_EQ(binary.count(1, 1), 1);
  EXPECT_EQ(binary.count(1, 0), 1);
  EXPECT_EQ(binary.total(), 2);
}

TEST(ConfusionMatrix, EmptyMatrixGivesZeros) {
  const ConfusionMatrix m(5, 255);
  EXPECT_EQ(m.total(), 0);
  EXPECT_DOUBLE_EQ(m.pixel_accuracy(), 0.0);
  EXPECT_DOUBLE_EQ(m.mean_iou(), 0.0);
}

TEST(SegmentationLoss, RejectsBadMasksNamingThePixel) {
  const Tensor logits({1, 2, 2, 3});
  try {
    segmentation_cross_entropy(logits, classes({1, 2, 2}, {0, 1, 2, 3}), 255);
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("mask pixel (n 0, y 1, x 1) is 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(dice_loss(logits, classes({1, 2, 3}, {0, 0, 0, 0, 0, 0}), 255), InputError);
  EXPECT_THROW(dice_loss(Tensor({1, 2, 2, 1}), classes({1, 2, 2}, {0, 1, 2, 0}), 255), InputError);  // binary
  EXPECT_THROW(parse_segmentation_loss("focal"), InputError);
  EXPECT_EQ(segmentation_loss_name(parse_segmentation_loss("ce+dice")), "ce+dice");
}

// Every pixel ignored: loss 0 and a zero gradient (torch would give nan).
TEST(SegmentationLoss, AllIgnoredGivesZero) {
  const Tensor logits = Tensor::full({1, 1, 2, 3}, 1.0f);
  const Tensor mask = classes({1, 1, 2}, {255, 255});
  for (const auto kind :
       {SegmentationLossKind::ce, SegmentationLossKind::dice, SegmentationLossKind::ce_dice}) {
    const SegmentationLoss loss = segmentation_loss(kind, logits, mask, 255);
    EXPECT_EQ(loss.loss, 0.0);
    for (int64_t i = 0; i < loss.grad.numel(); ++i) EXPECT_EQ(loss.grad.f32()[i], 0.0f);
  }
}

}  // namespace
}  // namespace resnet
