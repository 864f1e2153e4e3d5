// ConfusionMatrix: pixel accuracy, per-class IoU and mIoU of a segmentation over many batches.
#include <fmt/format.h>

#include <algorithm>

#include "resnet/error.h"
#include "resnet/segmentation_loss.h"

namespace resnet {
namespace {

int64_t class_at(const Tensor& t, int64_t i) {
  return t.dtype() == DType::u8 ? int64_t(t.data_as<uint8_t>()[i]) : t.data_as<int64_t>()[i];
}

void require_class_map(const Tensor& t, const char* what) {
  if (t.rank() != 3 || (t.dtype() != DType::u8 && t.dtype() != DType::i64)) {
    throw InputError(fmt::format("ConfusionMatrix: {} must be u8 or i64 [N,H,W], got {} {}", what,
                                 dtype_name(t.dtype()), shape_str(t.shape())));
  }
}

}  // namespace

Tensor predict_classes(const Tensor& logits) {
  if (logits.rank() != 4 || logits.dtype() != DType::f32 || logits.dim(3) > 256) {
    throw InputError(fmt::format("predict_classes: logits must be f32 [N,H,W,K] with K <= 256, got {} {}",
                                 dtype_name(logits.dtype()), shape_str(logits.shape())));
  }
  const int64_t k = logits.dim(3);
  Tensor predicted({logits.dim(0), logits.dim(1), logits.dim(2)}, DType::u8);
  const float* z = logits.f32();
  uint8_t* out = predicted.data_as<uint8_t>();
  for (int64_t i = 0, n = predicted.numel(); i < n; ++i) {
    const float* zi = z + i * k;
    out[i] = k == 1 ? uint8_t(zi[0] > 0.0f) : uint8_t(std::max_element(zi, zi + k) - zi);  // first maximum
  }
  return predicted;
}

ConfusionMatrix::ConfusionMatrix(int num_classes, int ignore_index)
    : num_classes_(num_classes),
      ignore_index_(ignore_index),
      counts_(size_t(num_classes) * size_t(num_classes)) {
  if (num_classes < 1) throw InputError(fmt::format("ConfusionMatrix: {} classes", num_classes));
}

void ConfusionMatrix::add(const Tensor& predicted, const Tensor& target) {
  require_class_map(predicted, "the prediction");
  require_class_map(target, "the target");
  if (predicted.shape() != target.shape()) {
    throw InputError(fmt::format("ConfusionMatrix: prediction {} and target {} differ in shape",
                                 shape_str(predicted.shape()), shape_str(target.shape())));
  }
  for (int64_t i = 0, n = target.numel(); i < n; ++i) {
    const int64_t t = class_at(target, i), p = class_at(predicted, i);
    if (t == ignore_index_) continue;
    if (t < 0 || t >= num_classes_ || p < 0 || p >= num_classes_) {
      throw InputError(fmt::format("ConfusionMatrix: pixel {} has target {} and prediction {}, outside 0..{}",
                                   i, t, p, num_classes_ - 1));
    }
    ++counts_[size_t(t * num_classes_ + p)];
  }
}

void ConfusionMatrix::add_logits(const Tensor& logits, const Tensor& target) {
  add(predict_classes(logits), target);
}

int64_t ConfusionMatrix::total() const {
  int64_t sum = 0;
  for (int64_t v : counts_) sum += v;
  return sum;
}

double ConfusionMatrix::pixel_accuracy() const {
  int64_t correct = 0;
  for (int c = 0; c < num_classes_; ++c) correct += count(c, c);
  const int64_t all = total();
  return all > 0 ? double(correct) / double(all) : 0.0;
}

bool ConfusionMatrix::present(int c) const {
  for (int o = 0; o < num_classes_; ++o)
    if (count(c, o) > 0 || count(o, c) > 0) return true;
  return false;
}

double ConfusionMatrix::iou(int c) const {
  int64_t target = 0, predicted = 0;
  for (int o = 0; o < num_classes_; ++o) {
    target += count(c, o);
    predicted += count(o, c);
  }
  const int64_t uni = target + predicted - count(c, c);
  return uni > 0 ? double(count(c, c)) / double(uni) : 0.0;
}

std::vector<double> ConfusionMatrix::per_class_iou() const {
  std::vector<double> out;
  for (int c = 0; c < num_classes_; ++c) out.push_back(iou(c));
  return out;
}

double ConfusionMatrix::mean_iou() const {
  double sum = 0.0;
  int present_classes = 0;
  for (int c = 0; c < num_classes_; ++c) {
    if (!present(c)) continue;
    sum += iou(c);
    ++present_classes;
  }
  return present_classes > 0 ? sum / present_classes : 0.0;
}

}  // namespace resnet
