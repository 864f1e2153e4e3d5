// Training's 3x3 stride-1 pad-1 f32 convolutions as Winograd F(4x4, 3x3) on NHWC activations, with the
// transforms the plan uses (winograd_transforms.h): input transform straight from NHWC, one batched oneDNN
// matmul per group of images, output transform straight into NHWC. Forward multiplies by U = G w G^T;
// backward-data is the same convolution of dy with the weights turned 180 degrees and their in/out channels
// swapped (dx[c] = sum_k dy[k] * w[k][c] flipped), so it runs the same three passes with U of that weight.
// The weight gradient is taken in the Winograd domain: V = B^T d B per input tile (the forward's input
// transform), dM = A dY A^T per output tile (the output transform's transpose), dU[ξ] = V[ξ]^T · dM[ξ] as one
// batched oneDNN matmul per group of images (summed over the groups), then dw += G^T dU G.
//
// conv2d_forward / conv2d_backward_data (conv.cpp) call these where winograd_trains() says so, and
// conv2d_backward_weights where winograd_trains_weights() does; the bench (bench/layer_bench.cpp) calls them
// directly to time them against the direct convolution.
#pragma once

#include "core/window.h"
#include "resnet/tensor.h"

namespace resnet::ops {

// Whether the transforms can compute this convolution: f32 activations, a 3x3 kernel, stride 1, padding 1,
// no dilation, groups 1, in and out channels multiples of 16. x [N,H,W,C], w [K,C,KH,KW].
bool winograd_applies(const Shape& x, const Shape& w, const Window& window, DType dtype);

// Whether training may run it through Winograd at all: conv_winograd() is on, winograd_applies(), and the
// batch has at least 8 output tiles. Where it may, the rules below pick Winograd or oneDNN's direct kernel,
// or a training kernel chooser (ops.h: set_training_kernel_chooser) times it against the others.
bool winograd_may_train(const Shape& x, const Shape& w, const Window& window, DType dtype);

// Whether training runs it through Winograd: conv_winograd() is on, winograd_applies(), and the shape is one
// where it measured faster than oneDNN's direct convolution (forward + backward-data; the rule and its
// numbers are in conv_winograd.cpp and docs/BENCHMARKS.md). Depends on the shapes only, never on a timing,
// so that a resumed run takes the same path as the run it continues (a tuned run keeps its timed choices in
// the tuning cache for the same reason).
bool winograd_trains(const Shape& x, const Shape& w, const Window& window, DType dtype);
// The same for the weight gradient (conv2d_backward_weights), whose shapes where Winograd wins differ (the
// rule and its numbers are in conv_winograd.cpp and docs/BENCHMARKS.md). Shapes only, as winograd_trains().
bool winograd_trains_weights(const Shape& x, const Shape& w, const Window& window, DType dtype);

// x [N,H,W,C] f32, w [K,C,3,3], bias [K] or undefined -> y [N,H,W,K]. Requires winograd_applies().
Tensor conv2d_forward_winograd(const Tensor& x, const Tensor& w, const Tensor& bias);
// dy [N,H,W,K] f32, w [K,C,3,3] -> dx [N,H,W,C]. Requires winograd_applies().
Tensor conv2d_backward_data_winograd(const Tensor& dy, const Tensor& w);
// x [N,H,W,C] f32 (the forward's input), dy [N,H,W,K]: dw [K,C,3,3] += dL/dw, *dbias [K] += dL/dbias (dbias
// null: no bias), as conv2d_backward_weights. Requires winograd_applies() of x and dw.
void conv2d_backward_weights_winograd(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias);

}  // namespace resnet::ops
