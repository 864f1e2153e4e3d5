// Winograd F(4x4, 3x3) transforms (Lavin & Gray 2015, interpolation points 0, ±1, ±2) for 3x3 stride-1
// pad-1 convolutions on nChw16c activations. A 4x4 output tile needs a 6x6 input tile; transformed, the
// convolution becomes 36 independent matrix products over channels, M[ξ] = V[ξ] · U[ξ] (ξ = 6·row + col of
// the 6x6 tile), which the caller runs as one batched oneDNN matmul: per 4x4 outputs and channel pair, 36
// multiplies instead of the direct 16 * 9 = 144. The transforms are additions and small multiples; the
// rounding they add is a few f32 ulps of the layer's largest values. Plain C++ (no oneDNN). In the dnnl floor
// so that the plan (src/infer/onednn/plan_winograd.cpp) and training share one copy of the math.
//
// Layouts (f32):
//   activations  nChw16c: [N][C/16][H][W][16] (the plan's), or NHWC: [N][H][W][C] (training's;
//   Geometry::layout) U (weights)  [36][C][K]     U[ξ] = G g G^T for g = w[k][c] (3x3) V (input) [36][T][C]
//   T = N * tiles_h * tiles_w, tile t = (n * tiles_h + i) * tiles_w + j M (products) [36][T][K]     (dense:
//   oneDNN's brgemm matmul takes these; with a tile's 36 rows side by side
//                               instead, it falls back to a slower gemm)
#pragma once

#include <cstdint>

namespace resnet::winograd {

constexpr int64_t kTile = 4;       // output tile side
constexpr int64_t kInputTile = 6;  // input tile side
constexpr int64_t kPoints = 36;    // kInputTile^2 matrix products
constexpr int64_t kBlock = 16;     // channels per nChw16c block

// How activations lie in memory. Either way a pixel's channels c..c+15 (c a multiple of 16) are 16
// consecutive floats, which is what the transforms load and store.
enum class Layout { nChw16c, nhwc };

// One convolution's geometry for a group of n images. Channels are multiples of kBlock.
struct Geometry {
  int64_t n = 0, in_channels = 0, out_channels = 0, height = 0, width = 0;
  Layout layout = Layout::nChw16c;
  int64_t tiles_h() const { return (height + kTile - 1) / kTile; }
  int64_t tiles_w() const { return (width + kTile - 1) / kTile; }
  int64_t tiles() const { return n * tiles_h() * tiles_w(); }
  // In one image, in floats: where channel block channel/16 starts, and the step from one pixel to the next
  // (row-major over H x W) in an image of `channels` channels.
  int64_t block_offset(int64_t channel) const {
    return layout == Layout::nhwc ? channel : channel / kBlock * height * width * kBlock;
  }
  int64_t pixel_stride(int64_t channels) const { return layout == Layout::nhwc ? channels : kBlock; }
};

// weight: OIHW [K][C][3][3] -> u: [36][C][K] (computed in double, rounded once).
void transform_weights(const float* weight, int64_t out_channels, int64_t in_channels, float* u);

// src: [n][C/16][H][W][16] or [n][H][W][C] (g.layout; pad 1 is implied: outside the image reads 0) -> v:
// [36][T][C].
void transform_input(const Geometry& g, const float* src, float* v);

// m: [36][T][K] -> dst: [n][K/16][H][W][16] or [n][H][W][K] (g.layout) = m's output tiles + bias[k] (bias
// null: none); with accumulate, added to what dst holds (the residual join); then max(., 0) with relu.
void transform_output(const Geometry& g, const float* m, const float* bias, bool accumulate, bool relu,
                      float* dst);

// The backward of the transforms, for training's weight gradient (conv_winograd.cpp): with the forward
// M[ξ] = V[ξ] · U[ξ] and y = A^T M A per tile, dL/dM = A dY A^T per tile and dL/dU[ξ] = V[ξ]^T · dL/dM[ξ];
// U = G g G^T then gives dL/dg = G^T dU G.
//
// dy: [n][K/16][H][W][16] or [n][H][W][K] (g.layout) -> dm: [36][T][K] = A dY A^T of each 4x4 output tile,
// the outputs past the image edge (a partial tile's) read as 0: the transpose of transform_output.
void transform_output_gradient(const Geometry& g, const float* dy, float* dm);

// du: [36][C][K] -> weight_grad: OIHW [K][C][3][3] += G^T du G (in double, rounded once): the transpose of
// transform_weights, added into the gradient that is there (gradients accumulate until zeroed).
void transform_weights_gradient(const float* du, int64_t out_channels, int64_t in_channels,
                                float* weight_grad);

}  // namespace resnet::winograd
