// A plan step that runs a 3x3 stride-1 pad-1 f32 convolution as Winograd F(4x4, 3x3) (winograd_transforms.h):
// input transform, one batched oneDNN matmul V [36, T, C] x U [36, C, K] -> M [36, T, K], output transform
// with the folded bias, the residual sum and the ReLU fused. Activations are nChw16c on both sides.
//
// oneDNN 3 has no Winograd convolution on x86; its direct f32 convolutions run near the FMA peak, which
// Winograd's 4x fewer multiplies get past. The batch runs in groups of images: a group's V and M stay in
// cache, while every group reads U (36/9 = 4x the direct weights) again; choose_group weighs the two.
#pragma once

#include <cstddef>
#include <cstdint>
#include <dnnl.hpp>
#include <string>
#include <unordered_map>

#include "dnnl/winograd_transforms.h"
#include "infer/program.h"
#include "resnet/tensor.h"

namespace resnet::infer {

class WinogradConv {
 public:
  // Whether a conv step of this geometry can run as Winograd (3x3, stride 1, padding 1 on every side, no
  // dilation or groups, channels in whole nChw16c blocks) and gains by it (at least 8 output tiles in the
  // batch).
  static bool applies(const Step& step, const StepGeometry& g);

  // step.weight is the folded OIHW weight; step.bias the folded bias, read in place at run time.
  WinogradConv(const Step& step, const StepGeometry& g);
  // A copy shares the matmul and U but is unbound: bind() gives it its own V/M buffer and scratchpad (one
  // copy per concurrent run of a plan).
  WinogradConv(const WinogradConv& other);
  WinogradConv& operator=(const WinogradConv&) = delete;

  const dnnl::matmul::primitive_desc& matmul_pd() const { return pd_; }
  // U in plain [36, C, K] f32 (described by plain_weights_md()), to be reordered into matmul_pd()'s layout.
  const Tensor& plain_weights() const { return u_plain_; }
  dnnl::memory::desc plain_weights_md() const;
  int64_t group() const { return group_.n; }
  // V and M of one group.
  size_t buffer_bytes() const;

  // buffer: buffer_bytes(), 64-byte aligned; weights: U in matmul_pd().weights_desc(); scratchpad: at least
  // matmul_pd()'s.
  void bind(std::byte* buffer, const dnnl::memory& weights, std::byte* scratchpad);
  // src, dst: nChw16c [N][C/16][H][W][16], N the compiled batch.
  void execute(dnnl::stream& stream, const float* src, float* dst) const;

  std::string describe() const;

 private:
  const Step& step_;
  winograd::Geometry group_;  // the images one matmul takes
  int64_t batch_ = 0;
  Tensor u_plain_;
  dnnl::matmul::primitive_desc pd_;
  dnnl::matmul matmul_;
  dnnl::memory v_, m_;
  std::unordered_map<int, dnnl::memory> args_;
};

}  // namespace resnet::infer
