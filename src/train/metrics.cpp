// Evaluation: loss, top-1/top-5 and the confusion matrix of a model over a loader's batches.
#include <fmt/format.h>

#include "resnet/loss.h"
#include "resnet/train.h"

namespace resnet {
namespace {

// The first maximum of each row (torch.argmax), so it agrees with CrossEntropy::correct.
std::vector<int64_t> argmax_rows(const Tensor& logits) {
  const int64_t n = logits.dim(0), classes = logits.dim(1);
  const float* p = logits.f32();
  std::vector<int64_t> out(size_t(n), 0);
  for (int64_t i = 0; i < n; ++i) {
    const float* row = p + i * classes;
    for (int64_t c = 1; c < classes; ++c) {
      if (row[c] > row[out[size_t(i)]]) out[size_t(i)] = c;
    }
  }
  return out;
}

}  // namespace

int64_t EvalResult::class_count(size_t c) const {
  int64_t total = 0;
  for (int64_t v : confusion.at(c)) total += v;
  return total;
}

double EvalResult::class_accuracy(size_t c) const {
  const int64_t total = class_count(c);
  return total > 0 ? double(confusion[c][c]) / double(total) : 0.0;
}

EvalResult evaluate(ResNet& model, Loader& loader, double label_smoothing, const BatchObserver& observer) {
  EvalResult result;
  result.class_names = loader.dataset().class_names();
  const size_t classes = result.class_names.size();
  if (int64_t(classes) != model.config().num_classes) {
    throw InputError(fmt::format("{}: the model has {} outputs but the dataset {} has {} classes",
                                 model.config().name, model.config().num_classes,
                                 loader.dataset().info().name, classes));
  }
  result.confusion.assign(classes, std::vector<int64_t>(classes, 0));
  model.set_training(false);
  loader.start_epoch(0);
  double loss_sum = 0.0;
  Batch batch;
  while (loader.next(batch)) {
    if (batch.labels.empty()) continue;  // every image was skipped (LoaderOptions::skip_bad_samples)
    const Tensor logits = model.forward(batch.images);
    const CrossEntropy ce = softmax_cross_entropy(logits, batch.labels, label_smoothing);
    const int64_t n = int64_t(batch.labels.size());
    loss_sum += ce.loss * double(n);
    result.top1_correct += ce.correct;
    result.top5_correct += count_top_k_correct(logits, batch.labels, 5);
    const std::vector<int64_t> predicted = argmax_rows(logits);
    for (int64_t i = 0; i < n; ++i)
      ++result.confusion[size_t(batch.labels[size_t(i)])][size_t(predicted[size_t(i)])];
    result.count += n;
    if (observer) observer(batch, logits);
  }
  result.loss = result.count > 0 ? loss_sum / double(result.count) : 0.0;
  return result;
}

}  // namespace resnet
