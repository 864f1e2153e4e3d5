#include "infer/fold.h"

#include <fmt/format.h>

#include <cmath>

#include "resnet/error.h"

namespace resnet::infer {

FoldedConv fold_batchnorm(const Tensor& weight, const Tensor& bias, const BatchNormParams& bn) {
  const int64_t out = weight.dim(0);
  for (const Tensor* t : {&bn.gamma, &bn.beta, &bn.mean, &bn.var}) {
    if (t->numel() != out) {
      throw InternalError(fmt::format("fold_batchnorm: batch norm of {} channels after a weight {}",
                                      t->numel(), shape_str(weight.shape())));
    }
  }
  if (bias.defined() && bias.numel() != out) {
    throw InternalError(fmt::format("fold_batchnorm: bias {} for a weight {}", shape_str(bias.shape()),
                                    shape_str(weight.shape())));
  }
  FoldedConv folded{Tensor::empty(weight.shape()), Tensor::empty({out})};
  const int64_t per_channel = weight.numel() / out;
  const float* w = weight.f32();
  float* fw = folded.weight.f32();
  float* fb = folded.bias.f32();
  for (int64_t o = 0; o < out; ++o) {
    const double scale = double(bn.gamma.f32()[o]) / std::sqrt(double(bn.var.f32()[o]) + double(bn.eps));
    for (int64_t i = 0; i < per_channel; ++i) {
      fw[o * per_channel + i] = static_cast<float>(double(w[o * per_channel + i]) * scale);
    }
    const double b = bias.defined() ? double(bias.f32()[o]) : 0.0;
    fb[o] = static_cast<float>(double(bn.beta.f32()[o]) + (b - double(bn.mean.f32()[o])) * scale);
  }
  return folded;
}

}  // namespace resnet::infer
