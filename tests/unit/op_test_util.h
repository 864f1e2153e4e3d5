// Helpers shared by the kernel tests (test_ops.cpp, test_backward_ops.cpp): seeded inputs and an element-wise
// comparison. (Windows from PyTorch-style arguments: Window::square, core/window.h.)
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "dnnl/ops.h"
#include "resnet/tensor.h"

namespace resnet::test {

// Uniform in [lo, hi), from a fixed seed.
inline Tensor random_tensor(Shape shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
  for (float& v : values) v = dist(rng);
  return Tensor::from_vector(std::move(shape), values);
}

// |actual - expected| <= tol * (1 + |expected|), element by element (a NaN fails).
inline void expect_close(const Tensor& actual, const Tensor& expected, double tol = 1e-4) {
  ASSERT_EQ(shape_str(actual.shape()), shape_str(expected.shape()));
  const float* a = actual.f32();
  const float* e = expected.f32();
  int reported = 0;
  for (int64_t i = 0; i < actual.numel(); ++i) {
    if (!(std::abs(double(a[i]) - double(e[i])) <= tol * (1.0 + std::abs(double(e[i])))) && reported++ < 5) {
      ADD_FAILURE() << "element " << i << ": got " << a[i] << ", expected " << e[i];
    }
  }
}

}  // namespace resnet::test
