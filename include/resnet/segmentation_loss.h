// Segmentation losses (forward and dL/dlogits in one call) and metrics (a confusion matrix over batches).
//
//   resnet::SegmentationLoss loss = resnet::segmentation_loss(resnet::SegmentationLossKind::ce_dice, logits,
//                                                             batch.masks, 255);
//   model.backward(loss.grad);
//   resnet::ConfusionMatrix confusion(num_classes, 255);
//   confusion.add_logits(logits, batch.masks);   // ... over the test batches, then confusion.mean_iou()
//
// Logits are NHWC f32 [N, H, W, K]; masks [N, H, W] (u8 or i64) hold a class per pixel or the ignore index.
// Definitions (reference: torch / segmentation_models_pytorch 0.6, tests/parity/test_segmentation_loss.cpp):
//   ce    K > 1: torch.nn.CrossEntropyLoss(ignore_index): -log softmax(z)[class], mean over the pixels that
//   are
//         not ignored. K = 1 (binary, mask 0/1): binary cross-entropy with logits, mean over the pixels that
//         are not ignored (as torch's BCEWithLogitsLoss on those pixels; smp's SoftBCEWithLogitsLoss would
//         divide by all pixels).
//   dice  smp.losses.DiceLoss("multiclass" for K > 1, "binary" for K = 1, from_logits=True, smooth=0,
//         eps=1e-7, ignore_index): per class c over the whole batch, p = softmax (sigmoid for K = 1) and
//         t = one-hot target, both zero on ignored pixels; dice_c = 2 sum(p t) / max(sum(p + t), 2 eps);
//         loss = mean over the K classes (1 for binary) of (1 - dice_c), where a class without a target pixel
//         in the batch contributes 0 (but still counts in the mean, as in smp).
//   ce+dice  the sum of the two.
// Computed in double; a batch whose pixels are all ignored gives loss 0 and a zero gradient (torch: nan).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "resnet/tensor.h"

namespace resnet {

enum class SegmentationLossKind { ce, dice, ce_dice };

// "ce" | "dice" | "ce+dice"; InputError naming the flag value otherwise.
SegmentationLossKind parse_segmentation_loss(const std::string& name);
std::string segmentation_loss_name(SegmentationLossKind kind);

struct SegmentationLoss {
  double loss = 0.0;
  Tensor grad;  // dL/dlogits, f32 [N, H, W, K]
};

// Throws InputError for shapes that do not match or a mask value that is neither a class (0..K-1; 0/1 for
// K = 1) nor the ignore index (naming the pixel).
SegmentationLoss segmentation_cross_entropy(const Tensor& logits, const Tensor& mask, int ignore_index);
SegmentationLoss dice_loss(const Tensor& logits, const Tensor& mask, int ignore_index);
SegmentationLoss segmentation_loss(SegmentationLossKind kind, const Tensor& logits, const Tensor& mask,
                                   int ignore_index);

// The class of each pixel of NHWC logits [N, H, W, K]: the first maximum over K (torch.argmax); for K = 1,
// class 1 where the logit is > 0. u8 [N, H, W]; K must be <= 256.
Tensor predict_classes(const Tensor& logits);

// A confusion matrix over the pixels of many batches: rows = target class, columns = predicted class; pixels
// whose target is the ignore index are left out.
class ConfusionMatrix {
 public:
  // num_classes: K of the logits, or 2 for binary (K = 1) models.
  ConfusionMatrix(int num_classes, int ignore_index);

  // predicted and target: [N, H, W] (u8 or i64) class indices.
  void add(const Tensor& predicted, const Tensor& target);
  // add(predict_classes(logits), target).
  void add_logits(const Tensor& logits, const Tensor& target);

  int num_classes() const { return num_classes_; }
  int64_t count(int target, int predicted) const {
    return counts_[size_t(target * num_classes_ + predicted)];
  }
  int64_t total() const;          // pixels counted
  double pixel_accuracy() const;  // correct / total (0 when empty)
  // |target c and predicted c| / |target c or predicted c|; 0 for a class in neither.
  double iou(int c) const;
  bool present(int c) const;  // in the target or the prediction of some counted pixel
  // The mean of iou(c) over the present classes (0 when none is).
  double mean_iou() const;
  std::vector<double> per_class_iou() const;

 private:
  int num_classes_;
  int ignore_index_;
  std::vector<int64_t> counts_;  // [target, predicted]
};

}  // namespace resnet
