// The compute kernels of the layer-by-layer path, on oneDNN. This header includes no oneDNN header: src/dnnl/
// is the only folder that speaks oneDNN, and the rest of the library calls these functions on Tensors.
//
// All activations are f32 NHWC [N, H, W, C]; conv weights OIHW [O, I/groups, KH, KW]; linear weights [out, in].
// Primitives are created once per (shapes, attributes) and cached (primitive_cache.h).
#pragma once

#include <cstdint>

#include "resnet/tensor.h"

namespace resnet::ops {

// Number of threads oneDNN (OpenMP) uses; <= 0 means all cores.
void set_num_threads(int threads);
int num_threads();

struct Conv2dSpec {
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;  // PyTorch convention: 1 = dense
  int64_t groups = 1;
};
// Output spatial size of a convolution or pooling window, as PyTorch computes it (floor mode).
int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation);

// x [N,H,W,C], w [O,C/g,KH,KW], bias [O] or undefined -> y [N,OH,OW,O]
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dSpec& spec);

// Batch norm over the channel (last) axis.
// Inference: y = (x - mean) / sqrt(var + eps) * weight + bias with the running statistics.
Tensor batchnorm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                   const Tensor& running_mean, const Tensor& running_var, float eps);
// Training: normalizes with the batch statistics; writes batch_mean [C] and biased batch_var [C].
Tensor batchnorm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                                  Tensor& batch_mean, Tensor& batch_var);

Tensor relu_forward(const Tensor& x);

// Max pooling, PyTorch semantics (padding is -inf), floor mode. x [N,H,W,C] -> [N,OH,OW,C]
Tensor maxpool2d_forward(const Tensor& x, int64_t kernel, int64_t stride, int64_t pad);

// AdaptiveAvgPool2d: output bin (i, j) averages rows [floor(i*H/OH), ceil((i+1)*H/OH)) and likewise columns.
// x [N,H,W,C] -> [N,OH,OW,C]
Tensor adaptive_avgpool2d_forward(const Tensor& x, int64_t out_h, int64_t out_w);

// x [N,K], w [O,K], bias [O] or undefined -> [N,O]
Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& bias);

// Elementwise a + b (same shape).
Tensor add(const Tensor& a, const Tensor& b);

}  // namespace resnet::ops
