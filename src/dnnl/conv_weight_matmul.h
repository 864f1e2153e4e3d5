// Training's weight gradients of 1x1 and stride-2 convolutions as one matmul over the input's patches. With
// NHWC activations a convolution is y [P, K] = patches [P, KH·KW·C] · w^T (P = N·OH·OW output pixels, a
// patch row the KH·KW input pixels one output reads, zeros where it reads padding), so
// dL/dw [K, KH·KW·C] = dy^T [K, P] · patches — oneDNN's brgemm matmul reading dy transposed. For a 1x1
// stride-1 convolution the patches are x itself; otherwise they are built per group of images
// (kPatchBytes at most) and the groups' products summed. oneDNN's own backward-weights convolutions run
// these shapes at half to three quarters of the matmul's rate here (docs/BENCHMARKS.md "Weight gradients as
// matmuls, stride 2 through phases").
// conv2d_backward_weights (conv.cpp) calls it where weight_gradient_as_matmul() says so.
#pragma once

#include "core/window.h"
#include "resnet/tensor.h"

namespace resnet::ops {

// Whether conv2d_backward_weights takes the matmul: f32, groups 1, no dilation, no bias gradient wanted, and
// a shape where it measured faster (the rule and its numbers are in conv_weight_matmul.cpp). Shapes only,
// never a timing. x [N,H,W,C], w [K,C,KH,KW].
bool weight_gradient_as_matmul(const Shape& x, const Shape& w, const Window& window, DType dtype, bool bias);
// Whether the matmul can compute it at all (any kernel size, stride and padding): f32, groups 1, no
// dilation, no bias gradient wanted. A training kernel chooser (ops.h) times it where the rule does not take
// it.
bool weight_gradient_matmul_applies(const Shape& x, const Shape& w, const Window& window, DType dtype,
                                    bool bias);

// x [N,H,W,C] (the forward's input), dy [N,OH,OW,K]: dw [K,C,KH,KW] += dL/dw. Requires groups 1, no
// dilation, f32.
void conv2d_backward_weights_matmul(const Tensor& x, const Tensor& dy, const Window& window, Tensor& dw);

}  // namespace resnet::ops
