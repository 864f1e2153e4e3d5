// Folding an eval-mode BatchNorm into the convolution before it.
//
// bn(conv(x)) = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta = conv'(x) + b' with, per output
// channel o,
//   scale[o] = gamma[o] / sqrt(var[o] + eps)
//   w'[o]    = w[o] * scale[o]
//   b'[o]    = beta[o] + (b[o] - mean[o]) * scale[o]
// (b = 0 for a convolution without bias). Computed in double, stored as f32.
#pragma once

#include "resnet/tensor.h"

namespace resnet::infer {

struct BatchNormParams {
  Tensor gamma, beta, mean, var;  // f32 [O]
  float eps = 1e-5f;
};

struct FoldedConv {
  Tensor weight;  // f32 [O, I/groups, KH, KW], new storage
  Tensor bias;    // f32 [O]
};

// weight: f32 [O, ...] (any trailing shape), bias: f32 [O] or undefined. Throws InternalError on mismatched
// channel counts.
FoldedConv fold_batchnorm(const Tensor& weight, const Tensor& bias, const BatchNormParams& bn);

}  // namespace resnet::infer
