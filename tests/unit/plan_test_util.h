// Helpers shared by the inference-plan tests (test_plan.cpp, test_quantize.cpp): a model whose batch norms
// do something, and comparisons of logits.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/batchnorm2d.h"
#include "resnet/model.h"
#include "resnet/zoo.h"
#include "unit/op_test_util.h"

namespace resnet::test {

// max |a - b| / max |b|
inline double relative_difference(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  double diff = 0.0, scale = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, std::abs(double(a.f32()[i]) - double(b.f32()[i])));
    scale = std::max(scale, std::abs(double(b.f32()[i])));
  }
  return diff / std::max(scale, 1e-30);
}

inline void visit(Module& m, const std::function<void(Module&)>& f) {
  f(m);
  for (Module* child : m.children()) visit(*child, f);
}

// A model whose batch norms do something (the initial ones are the identity): random affine parameters and
// running statistics, so that folding is really tested. Eval mode.
inline std::unique_ptr<ResNet> make_model(const std::string& arch, int in_channels = 3, int classes = 0,
                                          float dropout = 0.0f) {
  ResNetConfig config = zoo_config(arch, classes, in_channels);
  config.dropout = dropout;
  auto model = std::make_unique<ResNet>(config, 11);
  uint32_t seed = 100;
  visit(*model, [&](Module& m) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&m)) {
      const int64_t c = bn->channels();
      bn->weight().value.copy_from(random_tensor({c}, seed++, 0.5f, 1.5f));
      bn->bias().value.copy_from(random_tensor({c}, seed++, -0.3f, 0.3f));
      bn->running_mean().copy_from(random_tensor({c}, seed++, -0.3f, 0.3f));
      bn->running_var().copy_from(random_tensor({c}, seed++, 0.5f, 2.0f));
    }
  });
  model->set_training(false);
  return model;
}

// Top-1 of each row.
inline std::vector<int64_t> argmax_rows(const Tensor& logits) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < logits.dim(0); ++i) {
    const float* row = logits.f32() + i * logits.dim(1);
    out.push_back(std::max_element(row, row + logits.dim(1)) - row);
  }
  return out;
}

// The architectures the reduced-precision plans (bf16, int8) are checked on: basic blocks, bottlenecks,
// grouped bottlenecks (ResNeXt) and a CIFAR network with zero-padding shortcuts.
inline const std::vector<std::string>& reduced_precision_archs() {
  static const std::vector<std::string> archs = {"resnet18", "resnet50", "resnext50_32x4d", "resnet20"};
  return archs;
}

// A batch of 8 random images [8, S, S, 3] at a size the architecture handles quickly (32 for CIFAR networks).
inline Tensor random_batch_for(const std::string& arch) {
  const int64_t size = arch == "resnet20" ? 32 : 64;
  return random_tensor({8, size, size, 3}, 43);
}

// Reduced-precision logits against the f32 ones: every logit within `tolerance` of the largest |f32 logit|,
// and the same top-1 wherever the f32 winner leads by more than twice the measured error. Returns that error,
// max |logits - expected| / max |expected|.
inline double expect_close_with_same_top1(const Tensor& logits, const Tensor& expected, double tolerance) {
  const double rel = relative_difference(logits, expected);
  EXPECT_LT(rel, tolerance);
  double scale = 0.0;
  for (int64_t i = 0; i < expected.numel(); ++i) scale = std::max(scale, std::abs(double(expected.f32()[i])));
  const std::vector<int64_t> top = argmax_rows(logits), top_f32 = argmax_rows(expected);
  for (size_t i = 0; i < top.size(); ++i) {
    const float* row = expected.f32() + static_cast<int64_t>(i) * expected.dim(1);
    const double margin = row[top_f32[i]] - row[top[i]];
    EXPECT_TRUE(top[i] == top_f32[i] || margin <= 2 * rel * scale)
        << "image " << i << ": picks " << top[i] << ", f32 " << top_f32[i] << " leading by " << margin;
  }
  return rel;
}

}  // namespace resnet::test
