// The |x| histogram that percentile calibration reads its thresholds from (src/infer/calibrate.cpp).
#pragma once

#include <cstdint>
#include <vector>

namespace resnet::infer {

// A running histogram of |x| for percentile thresholds: 2048 bins over [0, range); when a value beyond the
// range arrives, the range doubles (pairs of bins merge, exactly) until it fits. The percentile is read at
// the upper edge of its bin, so it errs by at most range/2048 upwards.
class AbsHistogram {
 public:
  static constexpr int kBins = 2048;
  void add(const float* values, int64_t count);
  double max_abs() const { return max_abs_; }
  int64_t count() const { return count_; }
  // The smallest threshold t with at least q% of the values |x| <= t (q in (0, 100]); max_abs() at 100.
  double percentile(double q) const;

 private:
  void grow_to(double value);
  std::vector<int64_t> bins_ = std::vector<int64_t>(kBins, 0);
  double range_ = 0.0;
  double max_abs_ = 0.0;
  int64_t count_ = 0;
};

}  // namespace resnet::infer
