#include "data/random_erasing.h"

#include <algorithm>
#include <cmath>

namespace resnet {

EraseBox random_erasing_box(int height, int width, Rng& rng) {
  constexpr double kScaleMin = 0.02, kScaleMax = 0.33, kRatioMin = 0.3, kRatioMax = 3.3;
  const double area = double(height) * width;
  const double log_ratio_min = std::log(kRatioMin), log_ratio_max = std::log(kRatioMax);
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double erase_area = area * rng.uniform(kScaleMin, kScaleMax);
    const double aspect = std::exp(rng.uniform(log_ratio_min, log_ratio_max));
    // Python's round(): halves to even, the default rounding mode.
    const int h = static_cast<int>(std::nearbyint(std::sqrt(erase_area * aspect)));
    const int w = static_cast<int>(std::nearbyint(std::sqrt(erase_area / aspect)));
    if (!(h < height && w < width)) continue;
    const int top = static_cast<int>(rng.below(uint64_t(height - h + 1)));
    const int left = static_cast<int>(rng.below(uint64_t(width - w + 1)));
    return {top, left, h, w};
  }
  return {};
}

void random_erase(float* image, int height, int width, int channels, double p, Rng& rng) {
  if (p <= 0.0 || !(rng.uniform01() < p)) return;
  const EraseBox box = random_erasing_box(height, width, rng);
  for (int y = box.top; y < box.top + box.height; ++y) {
    float* row = image + (int64_t(y) * width + box.left) * channels;
    std::fill(row, row + int64_t(box.width) * channels, 0.0f);
  }
}

}  // namespace resnet
