// Cross-entropy against probability targets (resnet/loss.h): the loss of mixup / cutmix batches.
#include <fmt/format.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "resnet/error.h"
#include "resnet/loss.h"

namespace resnet {
namespace {

// The first maximum of a row (torch.argmax).
int64_t argmax(const float* v, int64_t n) {
  int64_t top = 0;
  for (int64_t j = 1; j < n; ++j) {
    if (v[j] > v[top]) top = j;
  }
  return top;
}

}  // namespace

CrossEntropy soft_target_cross_entropy(const Tensor& logits, const Tensor& targets, double eps) {
  if (logits.dtype() != DType::f32 || logits.rank() != 2 || logits.dim(0) < 1 || logits.dim(1) < 1 ||
      targets.dtype() != DType::f32 || targets.shape() != logits.shape()) {
    throw InputError(fmt::format("soft-target cross-entropy: logits {} and targets {} must be f32 [N, C]",
                                 shape_str(logits.shape()), shape_str(targets.shape())));
  }
  if (!(eps >= 0.0 && eps <= 1.0))
    throw InputError(
        fmt::format("soft-target cross-entropy: label smoothing must be in [0, 1], got {}", eps));
  const int64_t n = logits.dim(0), classes = logits.dim(1);
  CrossEntropy out;
  out.grad = Tensor::empty({n, classes});
  std::vector<double> row_loss(size_t(n), 0.0);
  const double inv_n = 1.0 / double(n);
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits.f32() + i * classes;
    const float* t = targets.f32() + i * classes;
    float* g = out.grad.f32() + i * classes;
    const int64_t top = argmax(z, classes);
    const double z_max = z[top];
    double sum_exp = 0.0;
    for (int64_t j = 0; j < classes; ++j) sum_exp += std::exp(double(z[j]) - z_max);
    const double log_sum = std::log(sum_exp);
    double target_sum = 0.0;
    std::vector<double> smoothed(static_cast<size_t>(classes));
    for (int64_t j = 0; j < classes; ++j) {
      smoothed[size_t(j)] = (1.0 - eps) * double(t[j]) + eps / double(classes);
      target_sum += smoothed[size_t(j)];
    }
    for (int64_t j = 0; j < classes; ++j) {
      const double logp = (double(z[j]) - z_max) - log_sum;
      if (smoothed[size_t(j)] != 0.0) row_loss[size_t(i)] -= smoothed[size_t(j)] * logp;
      g[j] = float((std::exp(logp) * target_sum - smoothed[size_t(j)]) * inv_n);
    }
    correct += top == argmax(t, classes);
  }
  out.loss = std::accumulate(row_loss.begin(), row_loss.end(), 0.0) / double(n);
  out.correct = correct;
  return out;
}

}  // namespace resnet
