#include "models/init.h"

#include <cmath>

namespace resnet {

void init_kaiming_normal_fan_out(Conv2d& conv, Rng& rng) {
  Tensor& w = conv.weight().value;  // [O, I/g, KH, KW]
  const double fan_out = static_cast<double>(w.dim(0) * w.dim(2) * w.dim(3));
  const double std = std::sqrt(2.0 / fan_out);
  float* p = w.f32();
  for (int64_t i = 0, n = w.numel(); i < n; ++i) p[i] = static_cast<float>(rng.normal() * std);
  if (conv.bias()) conv.bias()->value.fill(0.0f);
}

void init_linear_default(Linear& linear, Rng& rng) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(linear.in_features()));
  Tensor& w = linear.weight().value;
  float* p = w.f32();
  for (int64_t i = 0, n = w.numel(); i < n; ++i) p[i] = static_cast<float>(rng.uniform(-bound, bound));
  if (Parameter* b = linear.bias()) {
    float* q = b->value.f32();
    for (int64_t i = 0, n = b->value.numel(); i < n; ++i)
      q[i] = static_cast<float>(rng.uniform(-bound, bound));
  }
}

namespace {

// Conv weight ~ U(-bound, bound), bias 0.
void init_conv_uniform(Conv2d& conv, double bound, Rng& rng) {
  Tensor& w = conv.weight().value;
  float* p = w.f32();
  for (int64_t i = 0, n = w.numel(); i < n; ++i) p[i] = static_cast<float>(rng.uniform(-bound, bound));
  if (conv.bias()) conv.bias()->value.fill(0.0f);
}

}  // namespace

void init_kaiming_uniform_fan_in(Conv2d& conv, Rng& rng) {
  const Tensor& w = conv.weight().value;  // [O, I/g, KH, KW]
  const double fan_in = static_cast<double>(w.dim(1) * w.dim(2) * w.dim(3));
  init_conv_uniform(conv, std::sqrt(6.0 / fan_in), rng);
}

void init_xavier_uniform(Conv2d& conv, Rng& rng) {
  const Tensor& w = conv.weight().value;  // [O, I/g, KH, KW]
  const double receptive = static_cast<double>(w.dim(2) * w.dim(3));
  const double fan_in = static_cast<double>(w.dim(1)) * receptive;
  const double fan_out = static_cast<double>(w.dim(0)) * receptive;
  init_conv_uniform(conv, std::sqrt(6.0 / (fan_in + fan_out)), rng);
}

}  // namespace resnet
