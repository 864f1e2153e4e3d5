#include "infer/abs_histogram.h"

#include <algorithm>
#include <cmath>

#include "resnet/error.h"

namespace resnet::infer {

void AbsHistogram::grow_to(double value) {
  if (range_ == 0.0) {
    range_ = value;
    return;
  }
  while (range_ < value) {  // halve the resolution: bins 2i and 2i+1 become bin i
    for (int i = 0; i < kBins / 2; ++i) bins_[size_t(i)] = bins_[size_t(2 * i)] + bins_[size_t(2 * i + 1)];
    std::fill(bins_.begin() + kBins / 2, bins_.end(), 0);
    range_ *= 2.0;
  }
}

void AbsHistogram::add(const float* values, int64_t count) {
  float batch_max = 0.0f;
  for (int64_t i = 0; i < count; ++i) batch_max = std::max(batch_max, std::abs(values[i]));
  if (!std::isfinite(batch_max)) throw InputError("calibration: an activation is not finite (NaN or inf)");
  max_abs_ = std::max(max_abs_, double(batch_max));
  count_ += count;
  if (batch_max > 0.0f) grow_to(batch_max);
  if (range_ == 0.0) {  // all zeros so far
    bins_[0] += count;
    return;
  }
  const double per_bin = kBins / range_;
  for (int64_t i = 0; i < count; ++i) {
    const auto bin = static_cast<int64_t>(std::abs(double(values[i])) * per_bin);
    ++bins_[size_t(std::min<int64_t>(bin, kBins - 1))];
  }
}

double AbsHistogram::percentile(double q) const {
  if (count_ == 0 || q >= 100.0) return max_abs_;
  const double wanted = q / 100.0 * double(count_);
  int64_t seen = 0;
  for (int i = 0; i < kBins; ++i) {
    seen += bins_[size_t(i)];
    if (double(seen) >= wanted) return std::min(max_abs_, range_ * (i + 1) / kBins);
  }
  return max_abs_;
}

}  // namespace resnet::infer
