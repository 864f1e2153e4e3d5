// Gradient clipping by global 2-norm, as torch.nn.utils.clip_grad_norm_.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "resnet/error.h"
#include "resnet/optim.h"
#include "train/elementwise.h"

namespace resnet {

namespace {

using train_detail::kParallelMinElements;

// Sum of x[k]^2 over [0, n), in double. Fixed chunks summed in chunk order: the same bits for any number of
// threads, so a resumed run clips exactly as the uninterrupted one did.
double sum_of_squares(const float* x, int64_t n) {
  constexpr int64_t kChunk = int64_t{1} << 14;
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> partial(size_t(chunks), 0.0);
#pragma omp parallel for schedule(static) if (n >= kParallelMinElements)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t end = std::min(n, (c + 1) * kChunk);
    double sum = 0.0;
#pragma omp simd reduction(+ : sum)
    for (int64_t k = c * kChunk; k < end; ++k) sum += double(x[k]) * double(x[k]);
    partial[size_t(c)] = sum;
  }
  return std::accumulate(partial.begin(), partial.end(), 0.0);
}

void scale(float* x, int64_t n, float factor) {
#pragma omp parallel for simd schedule(static) if (n >= kParallelMinElements)
  for (int64_t k = 0; k < n; ++k) x[k] *= factor;
}

}  // namespace

double grad_norm(const std::vector<Parameter*>& params) {
  double sum = 0.0;
  for (const Parameter* p : params) {
    if (p->grad.defined()) sum += sum_of_squares(p->grad.f32(), p->grad.numel());
  }
  return std::sqrt(sum);
}

double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm) {
  if (!(max_norm > 0.0))
    throw InputError(fmt::format("gradient clipping: max norm must be positive, got {}", max_norm));
  const double total = grad_norm(params);
  const double coefficient = max_norm / (total + 1e-6);
  if (coefficient < 1.0) {
    for (Parameter* p : params) {
      if (p->grad.defined()) scale(p->grad.f32(), p->grad.numel(), float(coefficient));
    }
  }
  return total;
}

}  // namespace resnet
