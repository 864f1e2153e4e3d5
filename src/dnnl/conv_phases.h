// Training's 1x1 stride-2 convolutions, backward-data, through the input's phases. With stride 2 a 1x1
// convolution reads only the even rows and even columns of x — its phase 00, x[n][2i][2j] — so dx is zero on
// the other three phases and on phase 00 it is the 1x1 stride-1 backward-data of dy (a matmul oneDNN runs at
// its full rate). oneDNN's strided backward-data runs at about half that rate here (docs/BENCHMARKS.md
// "Weight gradients as matmuls, stride 2 through phases").
// conv2d_backward_data (conv.cpp) calls it where phases_train_data() says so.
#pragma once

#include "core/window.h"
#include "resnet/tensor.h"

namespace resnet::ops {

// Whether conv2d_backward_data takes the phases path: f32, a 1x1 kernel, stride 2, padding 0, groups 1.
// x [N,H,W,C], w [K,C,KH,KW].
bool phases_train_data(const Shape& x, const Shape& w, const Window& window, DType dtype);

// dy [N,OH,OW,K], w [K,C,1,1] -> dx [N,H,W,C] (x_shape). Requires phases_train_data().
Tensor conv2d_backward_data_phases(const Tensor& dy, const Tensor& w, const Shape& x_shape,
                                   const Window& window);

}  // namespace resnet::ops
