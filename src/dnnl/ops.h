// The compute kernels of the layer-by-layer path, on oneDNN. This header includes no oneDNN header: src/dnnl/
// is the only folder that speaks oneDNN, and the rest of the library calls these functions on Tensors.
//
// All activations are f32 NHWC [N, H, W, C]; conv weights OIHW [O, I/groups, KH, KW]; linear weights [out,
// in]. Primitives are created once per (shapes, attributes) and cached (primitive_cache.h).
//
// Every forward kernel has its backward beside it. A backward takes dy = dL/d(output) and what the forward
// kept, returns dx = dL/d(input), and ADDS parameter gradients into the given gradient tensors (torch
// accumulates .grad until zero_grad), which must be allocated (f32, the parameter's shape).
#pragma once

#include <cstdint>
#include <vector>

#include "core/window.h"
#include "dnnl/kernel_chooser.h"
#include "resnet/tensor.h"

namespace resnet::ops {

// Number of threads oneDNN (OpenMP) uses; <= 0 means all cores.
void set_num_threads(int threads);
int num_threads();

// While a ShapeOnly scope lives on this thread, forward-inference ops allocate and return outputs of the
// right shape without computing them: `summary` and `list` walk a model's shapes and MACs in milliseconds
// this way.
class ShapeOnly {
 public:
  ShapeOnly();
  ~ShapeOnly();
  ShapeOnly(const ShapeOnly&) = delete;
  ShapeOnly& operator=(const ShapeOnly&) = delete;

 private:
  bool previous_;
};
bool shape_only();

// Whether the f32 3x3 stride-1 pad-1 convolutions (channels multiples of 16) run forward, backward-data and
// backward-weights as Winograd F(4x4, 3x3) where it is faster (conv_winograd.h says which); process-wide, off
// until set, so that the layer-by-layer eval paths (infer --no-fuse, explain, features) keep oneDNN's direct
// convolutions. train() sets it from TrainConfig::winograd (on unless --no-winograd), as `resnet bench
// --train` does.
void set_conv_winograd(bool on);
bool conv_winograd();
// set_conv_winograd(on) for one scope (a training run, a test), the previous setting back at its end.
class ConvWinogradScope {
 public:
  explicit ConvWinogradScope(bool on) : before_(conv_winograd()) { set_conv_winograd(on); }
  ~ConvWinogradScope() { set_conv_winograd(before_); }
  ConvWinogradScope(const ConvWinogradScope&) = delete;
  ConvWinogradScope& operator=(const ConvWinogradScope&) = delete;

 private:
  bool before_;
};

// Which kernel a training convolution pass runs: with a chooser set, the one it picks by timing every kernel
// that computes it — Winograd (conv_winograd.h), the phases and matmul paths (conv_phases.h,
// conv_weight_matmul.h) where they apply, oneDNN's implementations (dnnl/implementations.h) — on the first
// call of each shape, the shape rule's kernel first, kept unless another is faster, and remembers (the
// chooser's cache: the same path on every later call, and in every later run on this machine); without one,
// the shape rules and oneDNN's first choice. nullptr: the rules. Process-wide; the chooser must outlive its
// setting. `resnet train --tune`, `resnet bench --train --tune`.
void set_training_kernel_chooser(onednn::KernelChooser* chooser);
onednn::KernelChooser* training_kernel_chooser();

// Convolution with `window` (core/window.h): its kernel must be the weight's KH x KW and its groups g.
// x [N,H,W,C], w [O,C/g,KH,KW], bias [O] or undefined -> y [N,OH,OW,O]
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Window& window);
// dy [N,OH,OW,O], w [O,C/g,KH,KW] -> dx of shape x_shape [N,H,W,C]
Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Window& window);
// x [N,H,W,C] (the forward's input), dy [N,OH,OW,O]: dw [O,C/g,KH,KW] += dL/dw, *dbias [O] += dL/dbias
// (dbias null: no bias).
void conv2d_backward_weights(const Tensor& x, const Tensor& dy, const Window& window, Tensor& dw,
                             Tensor* dbias);

// Batch norm over the channel (last) axis.
// Inference: y = (x - mean) / sqrt(var + eps) * weight + bias with the running statistics.
Tensor batchnorm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                   const Tensor& running_mean, const Tensor& running_var, float eps);
// Training: normalizes with the batch statistics; writes batch_mean [C] and biased batch_var [C].
Tensor batchnorm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                                  Tensor& batch_mean, Tensor& batch_var);
// Backward of batchnorm_forward_training: x (its input), batch_mean/batch_var (its outputs), dy like x ->
// dx like x; dweight [C] += dL/dweight, dbias [C] += dL/dbias. The batch statistics depend on x, and dx
// includes that path (as torch's train-mode BN).
Tensor batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& batch_mean,
                          const Tensor& batch_var, float eps, Tensor& dweight, Tensor& dbias);
// Backward of batchnorm_forward_inference (an eval-mode forward that gradients go through, as torch's
// model.eval()): the running statistics are constants, so dx = dy * weight / sqrt(running_var + eps);
// dweight [C] += sum(dy * x_hat), dbias [C] += sum(dy), x_hat normalised with the running statistics.
Tensor batchnorm_backward_global_stats(const Tensor& dy, const Tensor& x, const Tensor& weight,
                                       const Tensor& running_mean, const Tensor& running_var, float eps,
                                       Tensor& dweight, Tensor& dbias);

// Training batch norm followed by ReLU as one oneDNN pass (normalization_flags::fuse_norm_relu): y =
// max(batchnorm_forward_training(x), 0); writes batch_mean/batch_var as it does, and relu_mask (u8, oneDNN's
// workspace: which outputs were positive) for the backward.
Tensor batchnorm_relu_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                                       Tensor& batch_mean, Tensor& batch_var, Tensor& relu_mask);
// Its backward, one pass: dy (of the ReLU's output) masked by relu_mask, then batchnorm_backward.
Tensor batchnorm_relu_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                               const Tensor& batch_mean, const Tensor& batch_var, const Tensor& relu_mask,
                               float eps, Tensor& dweight, Tensor& dbias);

Tensor relu_forward(const Tensor& x);
// y: relu_forward's output (y > 0 exactly where x > 0). dx = dy where y > 0, else 0.
Tensor relu_backward(const Tensor& dy, const Tensor& y);
// relu_backward(a + b, y) in one pass over memory (the two parts of a residual block's input gradient and the
// ReLU before the block), same bits as add() then relu_backward(). The result is written over a's storage
// (pass a gradient no one else reads): no new activation-sized tensor.
Tensor relu_backward_sum(Tensor a, const Tensor& b, const Tensor& y);

// Max pooling, PyTorch semantics (padding is -inf), floor mode; the window is dense (dilation 1, groups 1)
// with padding at most half its kernel. x [N,H,W,C] -> [N,OH,OW,C]
Tensor maxpool2d_forward(const Tensor& x, const Window& window);
// The same, and the positions of the maxima in `workspace` (opaque bytes) for maxpool2d_backward.
Tensor maxpool2d_forward_training(const Tensor& x, const Window& window, Tensor& workspace);
// dy [N,OH,OW,C] -> dx of shape x_shape: each dy goes to its window's maximum (ties: the first in the
// window, as PyTorch); overlapping windows add.
Tensor maxpool2d_backward(const Tensor& dy, const Tensor& workspace, const Shape& x_shape,
                          const Window& window);

// AdaptiveAvgPool2d: output bin (i, j) averages rows [floor(i*H/OH), ceil((i+1)*H/OH)) and likewise columns.
// x [N,H,W,C] -> [N,OH,OW,C]
Tensor adaptive_avgpool2d_forward(const Tensor& x, int64_t out_h, int64_t out_w);
// dy [N,OH,OW,C] -> dx of shape x_shape: each dy spread evenly over its bin; overlapping bins add.
Tensor adaptive_avgpool2d_backward(const Tensor& dy, const Shape& x_shape);

// x [N,K], w [O,K], bias [O] or undefined -> [N,O]
Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& bias);
// dy [N,O], w [O,K] -> dx [N,K]
Tensor linear_backward_data(const Tensor& dy, const Tensor& w);
// x [N,K] (the forward's input), dy [N,O]: dw [O,K] += dy^T x, *dbias [O] += sum of dy over N (null: none).
void linear_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias);

// x in `dtype` (f32 <-> bf16, round to nearest even): x itself, not a copy, when it already has that dtype.
Tensor convert(const Tensor& x, DType dtype);

// Elementwise a + b (same shape).
Tensor add(const Tensor& a, const Tensor& b);
// max(a + b, 0) (same shape), one pass over memory instead of add() then relu_forward(), and the same bits.
Tensor add_relu(const Tensor& a, const Tensor& b);
// acc += x, in place (same shape): joins gradients without a new tensor.
void add_to(Tensor& acc, const Tensor& x);

// Nearest-neighbour upsampling by 2 (torch's F.interpolate(x, scale_factor=2, mode="nearest"), which is what
// smp's U-Net decoder does when the skip feature is twice the size). x [N,H,W,C] -> [N,2H,2W,C], each pixel
// a 2x2 block.
Tensor upsample_nearest2x_forward(const Tensor& x);
// dy [N,2H,2W,C] -> dx [N,H,W,C]: each 2x2 block of dy summed.
Tensor upsample_nearest2x_backward(const Tensor& dy);

// Channel concatenation (torch.cat(dim=1) on NCHW): parts[i] [N,H,W,C_i] (same N, H, W and dtype) ->
// [N,H,W,sum C_i].
Tensor concat_channels_forward(const std::vector<Tensor>& parts);
// The split: dy [N,H,W,sum C_i] -> the parts' gradients [N,H,W,C_i], C_i = channels[i].
std::vector<Tensor> concat_channels_backward(const Tensor& dy, const std::vector<int64_t>& channels);

}  // namespace resnet::ops
