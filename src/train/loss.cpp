// Softmax cross-entropy with label smoothing: loss, gradient and top-1 hits in one pass over the logits.
#include "resnet/loss.h"

#include <fmt/format.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "resnet/error.h"

namespace resnet {

namespace {

// logits [N, C] f32 and N labels in [0, C); throws InputError otherwise.
template <class Label>
void check_inputs(const Tensor& logits, std::span<const Label> labels, const char* what) {
  if (logits.dtype() != DType::f32 || logits.rank() != 2 || logits.dim(0) < 1 || logits.dim(1) < 1) {
    throw InputError(fmt::format("{}: logits must be f32 [N, C] with N, C >= 1, got {} {}", what,
                                 dtype_name(logits.dtype()), shape_str(logits.shape())));
  }
  const int64_t n = logits.dim(0), classes = logits.dim(1);
  if (int64_t(labels.size()) != n) {
    throw InputError(fmt::format("{}: {} labels for {} rows of logits", what, labels.size(), n));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (labels[size_t(i)] < 0 || int64_t(labels[size_t(i)]) >= classes) {
      throw InputError(fmt::format("{}: label {} of batch row {} is outside [0, {})", what,
                                   int64_t(labels[size_t(i)]), i, classes));
    }
  }
}

template <class Label>
CrossEntropy cross_entropy(const Tensor& logits, std::span<const Label> labels, double eps) {
  constexpr const char* kWhat = "cross-entropy";
  check_inputs(logits, labels, kWhat);
  if (!(eps >= 0.0 && eps <= 1.0)) {
    throw InputError(fmt::format("{}: label smoothing must be in [0, 1], got {}", kWhat, eps));
  }
  const int64_t n = logits.dim(0), classes = logits.dim(1);
  CrossEntropy out;
  out.grad = Tensor::empty({n, classes});
  std::vector<double> row_loss(static_cast<size_t>(n));
  std::vector<uint8_t> row_correct(static_cast<size_t>(n));
  const double target = 1.0 - eps, uniform = eps / double(classes), inv_n = 1.0 / double(n);

#pragma omp parallel for schedule(static) if (n * classes >= (int64_t{1} << 16))
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits.f32() + i * classes;
    float* g = out.grad.f32() + i * classes;
    const int64_t y = int64_t(labels[size_t(i)]);
    int64_t top = 0;
    for (int64_t j = 1; j < classes; ++j) {
      if (z[j] > z[top]) top = j;
    }
    // Everything relative to the maximum: no overflow, and log-probabilities keep their precision even when
    // the logits are huge (z_max + log(sum) would round the log away).
    const double z_max = z[top];
    double sum_exp = 0.0, sum_below_max = 0.0;
    for (int64_t j = 0; j < classes; ++j) {
      const double below = z_max - double(z[j]);
      sum_exp += std::exp(-below);
      sum_below_max += below;
    }
    const double log_sum = std::log(sum_exp);  // logsumexp(z) - z_max
    const double nll = (z_max - double(z[y])) + log_sum;
    const double smooth = sum_below_max / double(classes) + log_sum;  // mean_j -logp[j]
    // torch adds each term only when its weight is non-zero (an infinite term times 0 would be NaN).
    row_loss[size_t(i)] = (target > 0.0 ? target * nll : 0.0) + (eps > 0.0 ? eps * smooth : 0.0);
    for (int64_t j = 0; j < classes; ++j) {
      const double p = std::exp((double(z[j]) - z_max) - log_sum);
      g[j] = float((p - uniform - (j == y ? target : 0.0)) * inv_n);
    }
    row_correct[size_t(i)] = top == y;
  }
  // Summed in row order: the same bits for any number of threads.
  out.loss = std::accumulate(row_loss.begin(), row_loss.end(), 0.0) / double(n);
  out.correct = std::accumulate(row_correct.begin(), row_correct.end(), int64_t{0});
  return out;
}

}  // namespace

CrossEntropy softmax_cross_entropy(const Tensor& logits, std::span<const int64_t> labels,
                                   double label_smoothing) {
  return cross_entropy(logits, labels, label_smoothing);
}

CrossEntropy softmax_cross_entropy(const Tensor& logits, std::span<const int32_t> labels,
                                   double label_smoothing) {
  return cross_entropy(logits, labels, label_smoothing);
}

int64_t count_top_k_correct(const Tensor& logits, std::span<const int64_t> labels, int k) {
  check_inputs(logits, labels, "top-k accuracy");
  if (k < 1) throw InputError(fmt::format("top-k accuracy: k must be >= 1, got {}", k));
  const int64_t n = logits.dim(0), classes = logits.dim(1);
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits.f32() + i * classes;
    const int64_t y = labels[size_t(i)];
    int64_t above = 0;  // classes ranked above the label
    for (int64_t j = 0; j < classes; ++j) above += (z[j] > z[y]) || (z[j] == z[y] && j < y);
    correct += above < k;
  }
  return correct;
}

}  // namespace resnet
