#include "train/mixup.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "resnet/error.h"

namespace resnet {

double sample_gamma(double shape, Rng& rng) {
  if (shape < 1.0) {
    double u = rng.uniform01();
    while (u <= 0.0) u = rng.uniform01();
    return sample_gamma(shape + 1.0, rng) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    double x = 0.0, v = 0.0;
    do {
      x = rng.normal();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = rng.uniform01();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0.0 && std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

double sample_symmetric_beta(double alpha, Rng& rng) {
  const double a = sample_gamma(alpha, rng), b = sample_gamma(alpha, rng);
  return a + b > 0.0 ? a / (a + b) : 0.5;
}

MixChoice draw_mix(double mixup_alpha, double cutmix_alpha, int height, int width, Rng& rng) {
  MixChoice m;
  m.cutmix = cutmix_alpha > 0.0 && (mixup_alpha <= 0.0 || rng.below(2) == 1);
  const double alpha = m.cutmix ? cutmix_alpha : mixup_alpha;
  if (alpha <= 0.0) return m;
  m.lambda = sample_symmetric_beta(alpha, rng);
  if (!m.cutmix) return m;
  const int r_x = int(rng.below(uint64_t(width))), r_y = int(rng.below(uint64_t(height)));
  return cutmix_choice(m.lambda, r_x, r_y, height, width);
}

MixChoice cutmix_choice(double lambda, int r_x, int r_y, int height, int width) {
  MixChoice m{.cutmix = true, .lambda = lambda};
  const double r = 0.5 * std::sqrt(1.0 - m.lambda);
  const int r_w_half = int(r * width), r_h_half = int(r * height);
  m.x1 = std::max(r_x - r_w_half, 0);
  m.y1 = std::max(r_y - r_h_half, 0);
  m.x2 = std::min(r_x + r_w_half, width);
  m.y2 = std::min(r_y + r_h_half, height);
  m.lambda = 1.0 - double(m.x2 - m.x1) * double(m.y2 - m.y1) / (double(width) * double(height));
  return m;
}

Tensor apply_mix(const MixChoice& choice, Tensor& images, std::span<const int64_t> labels, int64_t classes) {
  if (images.dtype() != DType::f32 || images.rank() != 4 || images.dim(0) != int64_t(labels.size())) {
    throw InternalError(
        fmt::format("apply_mix: images {} for {} labels", shape_str(images.shape()), labels.size()));
  }
  const int64_t b = images.dim(0), h = images.dim(1), w = images.dim(2), c = images.dim(3);
  const int64_t per_image = h * w * c;
  const Tensor original = images.clone();
  const float lam = float(choice.lambda), rest = float(1.0 - choice.lambda);
  float* x = images.f32();
  for (int64_t i = 0; i < b; ++i) {
    const float* own = original.f32() + i * per_image;
    const float* rolled = original.f32() + ((i + b - 1) % b) * per_image;
    float* out = x + i * per_image;
    if (!choice.cutmix) {
      for (int64_t k = 0; k < per_image; ++k) out[k] = own[k] * lam + rolled[k] * rest;
      continue;
    }
    for (int64_t y = choice.y1; y < choice.y2; ++y) {
      const int64_t at = (y * w + choice.x1) * c;
      std::memcpy(out + at, rolled + at, size_t((choice.x2 - choice.x1) * c) * sizeof(float));
    }
  }
  Tensor targets = Tensor::zeros({b, classes});
  for (int64_t i = 0; i < b; ++i) {
    float* t = targets.f32() + i * classes;
    t[labels[size_t(i)]] += lam;
    t[labels[size_t((i + b - 1) % b)]] += rest;
  }
  return targets;
}

}  // namespace resnet
