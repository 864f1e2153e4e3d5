#include "dnnl/conv_winograd.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "dnnl/cpu_facts.h"
#include "dnnl/engine.h"
#include "dnnl/matmul.h"
#include "dnnl/memory.h"
#include "dnnl/ops.h"
#include "dnnl/primitive_cache.h"
#include "dnnl/winograd_transforms.h"
#include "resnet/error.h"

namespace resnet::ops {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using winograd::kBlock;
using winograd::kPoints;

std::atomic<bool> winograd_on{false};  // train() and `resnet bench --train` set it

constexpr double kGroupBytes = 8.0 * 1024 * 1024;

// The images one matmul takes: the largest divisor of the batch whose V [36][T][C] and M [36][T][K] fit in
// group_bytes, so that the output transform reads M from cache (at least one image).
int64_t images_per_matmul(const winograd::Geometry& image, int64_t batch, double group_bytes = kGroupBytes) {
  const double bytes = 4.0 * kPoints * image.tiles() * (image.in_channels + image.out_channels);
  return onednn::images_per_group(batch, bytes, group_bytes);
}

// One image of x [N,H,W,C] convolved to k channels (the callers set .n, the images of a group).
winograd::Geometry one_nhwc_image(const Tensor& x, int64_t c, int64_t k) {
  return {.n = 1,
          .in_channels = c,
          .out_channels = k,
          .height = x.dim(1),
          .width = x.dim(2),
          .layout = winograd::Layout::nhwc};
}

// x [N,H,W,C] -> y [N,H,W,K] = the 3x3 pad-1 convolution whose transformed weights are u [36][C][K], + bias
// (null: none).
void run_winograd(const Tensor& x, const Tensor& u, const float* bias, Tensor& y) {
  const int64_t batch = x.dim(0), c = u.dim(1), k = u.dim(2);
  winograd::Geometry g = one_nhwc_image(x, c, k);
  g.n = images_per_matmul(g, batch);
  const int64_t tiles = g.tiles();
  const memory::desc v_md({kPoints, tiles, c}, memory::data_type::f32, tag::abc);
  const memory::desc u_md({kPoints, c, k}, memory::data_type::f32, tag::abc);
  const memory::desc m_md({kPoints, tiles, k}, memory::data_type::f32, tag::abc);
  const std::string key = fmt::format("winograd_matmul|{}x{}x{}x{}", kPoints, tiles, c, k);
  const onednn::CachedPrimitive matmul = onednn::primitive_cache().get_or_create(key, [&] {
    return dnnl::matmul::primitive_desc(onednn::cpu_engine(), v_md,
                                        memory::desc(u_md.get_dims(), memory::data_type::f32, tag::any), m_md,
                                        onednn::default_attr());
  });
  const memory weights =
      onednn::in_layout(u, u_md, matmul.pd.weights_desc(), key, onednn::ThreadBuffer::weights);
  Tensor v = Tensor::empty({kPoints, tiles, c});
  Tensor m = Tensor::empty({kPoints, tiles, k});
  const int64_t image_in = x.dim(1) * x.dim(2) * c, image_out = x.dim(1) * x.dim(2) * k;
  for (int64_t n = 0; n < batch; n += g.n) {
    winograd::transform_input(g, x.f32() + n * image_in, v.f32());
    onednn::execute(matmul, {{DNNL_ARG_SRC, onednn::wrap(v, v_md)},
                             {DNNL_ARG_WEIGHTS, weights},
                             {DNNL_ARG_DST, onednn::wrap(m, m_md)}});
    winograd::transform_output(g, m.f32(), bias, false, false, y.f32() + n * image_out);
  }
}

// du [36][C][K] (+)= V^T [36][C][T] · dM [36][T][K]: V [36][T][C] read transposed; accumulate: added to what
// du holds (a sum post-op), else written.
onednn::CachedPrimitive weight_gradient_matmul(int64_t tiles, int64_t c, int64_t k, bool accumulate,
                                               memory::desc& v_md, memory::desc& dm_md, memory::desc& du_md) {
  v_md = memory::desc({kPoints, c, tiles}, memory::data_type::f32, memory::dims{tiles * c, 1, c});
  dm_md = memory::desc({kPoints, tiles, k}, memory::data_type::f32, tag::abc);
  du_md = memory::desc({kPoints, c, k}, memory::data_type::f32, tag::abc);
  return onednn::cached_matmul(
      fmt::format("winograd_weight_gradient_matmul|{}x{}x{}x{}", kPoints, tiles, c, k), v_md, dm_md, du_md,
      accumulate);
}

// dy [N,H,W,K] -> dbias [K] += the sum of dy over N, H, W (in double, rounded once).
void add_bias_gradient(const Tensor& dy, Tensor& dbias) {
  const int64_t k = dy.dim(3), pixels = dy.numel() / k;
  std::vector<double> sum(dbias.f32(), dbias.f32() + k);
  const float* d = dy.f32();
  for (int64_t p = 0; p < pixels; ++p)
    for (int64_t channel = 0; channel < k; ++channel) sum[channel] += d[p * k + channel];
  std::copy(sum.begin(), sum.end(), dbias.f32());
}

// Whether training takes Winograd for a convolution whose channel product K * C lies in `range` (where it
// measured faster) with at least 8 output tiles in the batch: as the plan (plan_winograd.cpp), with fewer,
// U costs more than the multiplies it saves.
struct ChannelProductRange {
  int64_t min = 0, max = 0;
};
bool trains_with_channel_product(const Shape& x, const Shape& w, const Window& win, DType dtype,
                                 ChannelProductRange range) {
  if (!winograd_may_train(x, w, win, dtype)) return false;
  const int64_t channel_product = w[0] * w[1];
  return channel_product >= range.min && channel_product <= range.max;
}

}  // namespace

bool winograd_may_train(const Shape& x, const Shape& w, const Window& win, DType dtype) {
  constexpr int64_t kMinTiles = 8;
  if (!conv_winograd() || !winograd_applies(x, w, win, dtype)) return false;
  const winograd::Geometry batch{.n = x[0], .height = x[1], .width = x[2]};
  return batch.tiles() >= kMinTiles;
}

void set_conv_winograd(bool on) {
  winograd_on = on;
}

bool conv_winograd() {
  return winograd_on;
}

bool winograd_applies(const Shape& x, const Shape& w, const Window& win, DType dtype) {
  return dtype == DType::f32 && x.size() == 4 && w.size() == 4 && w[2] == 3 && w[3] == 3 &&
         win.kernel_h == 3 && win.kernel_w == 3 && win.stride_h == 1 && win.stride_w == 1 && win.pad_h == 1 &&
         win.pad_w == 1 && win.dilation_h == 1 && win.dilation_w == 1 && win.groups == 1 && x[3] == w[1] &&
         x[3] % kBlock == 0 && w[0] % kBlock == 0;
}

// Measured per layer with bench/layer_bench BM_TrainConv3x3 (2 threads, OMP_WAIT_POLICY=passive, AMD EPYC
// with AVX-512, machine shared; docs/BENCHMARKS.md "Training with Winograd"): forward + backward-data
// together are 1.2-2.2x faster through Winograd for the ResNet 3x3 layers from 64 x 64 (28x28, 56x56) to 256
// x 256 channels, 1.0-1.2x at 32 x 32 (14x14) and 64 x 64 (7x7), 0.8-1.0x at 16 x 16 (28x28), and 0.6-1.0x at
// 512 x 512, where U (36 C K floats, 38 MB) is transformed, reordered and read per group of images for few
// tiles.
//
// On Intel the 512 x 512 layers on images of whole 4x4 tiles pay too: on a Xeon (Ice Lake, family 6 model
// 106; BM_TrainConv3x3, medians of 3, session 15) resnet18 --stem cifar's layer4 at 128 x 4x4 runs forward
// 55.1 -> 38.0 ms and backward-data 71.0 -> 45.4 ms through Winograd (1.51x), while 32 x 7x7 (partial tiles:
// 64 outputs computed for 49) stays at 0.97x; on the AMD EPYC (Zen 4) 128 x 4x4 measured 0.81x (table in
// docs/BENCHMARKS.md). A fact of the CPU, never a timing: one machine always takes the same path.
bool wide_whole_tile_layers_pay() {
  static const bool intel = onednn::this_cpu().vendor == "GenuineIntel";
  return intel;
}

bool winograd_trains(const Shape& x, const Shape& w, const Window& win, DType dtype) {
  if (trains_with_channel_product(x, w, win, dtype, {.min = 32 * 32, .max = 256 * 256})) return true;
  const bool whole_tiles = x.size() == 4 && x[1] % winograd::kTile == 0 && x[2] % winograd::kTile == 0;
  return whole_tiles && wide_whole_tile_layers_pay() &&
         trains_with_channel_product(x, w, win, dtype, {.min = 256 * 256 + 1, .max = 512 * 512});
}

// Measured per layer as above, BM_TrainConv3x3 pass 2 (load ~4.5 on 2 cores; docs/BENCHMARKS.md "Training
// with Winograd"): the weight gradient through Winograd is 1.6-2.3x faster than oneDNN's direct
// backward-weights from 32 x 32 to 256 x 256 channels, and 1.8x (128 x 4x4) / 1.3x (32 x 7x7) at 512 x 512,
// where dU (36 C K floats) is reduced over the whole batch in one or a few matmuls (forward and backward-data
// instead re-read U per group); 0.88x at 16 x 16 (28x28). So: 32 x 32 to 512 x 512.
bool winograd_trains_weights(const Shape& x, const Shape& w, const Window& win, DType dtype) {
  return trains_with_channel_product(x, w, win, dtype, {.min = 32 * 32, .max = 512 * 512});
}

// x [N,H,W,C], w [K,C,3,3], bias [K] or undefined -> y [N,H,W,K]
Tensor conv2d_forward_winograd(const Tensor& x, const Tensor& w, const Tensor& bias) {
  if (!winograd_applies(x.shape(), w.shape(), Window::square(3, 1, 1), x.dtype()))
    throw InternalError(fmt::format("conv2d: input {} weight {} is not a Winograd convolution",
                                    shape_str(x.shape()), shape_str(w.shape())));
  const int64_t k = w.dim(0), c = w.dim(1);
  Tensor y = Tensor::empty({x.dim(0), x.dim(1), x.dim(2), k});
  return onednn::translate_errors("conv2d winograd", [&] {
    Tensor u = Tensor::empty({kPoints, c, k});
    winograd::transform_weights(w.f32(), k, c, u.f32());
    run_winograd(x, u, bias.defined() ? bias.f32() : nullptr, y);
    return y;
  });
}

// dy [N,H,W,K], w [K,C,3,3] -> dx [N,H,W,C]: the convolution of dy with w' [C,K,3,3], w'[c][k][i][j] =
// w[k][c][2-i][2-j].
Tensor conv2d_backward_data_winograd(const Tensor& dy, const Tensor& w) {
  const int64_t k = w.dim(0), c = w.dim(1);
  const Shape turned_shape = {c, k, 3, 3};
  if (!winograd_applies(dy.shape(), turned_shape, Window::square(3, 1, 1), dy.dtype()))
    throw InternalError(
        fmt::format("conv2d backward: output gradient {} weight {} is not a Winograd convolution",
                    shape_str(dy.shape()), shape_str(w.shape())));
  Tensor dx = Tensor::empty({dy.dim(0), dy.dim(1), dy.dim(2), c});
  return onednn::translate_errors("conv2d backward data winograd", [&] {
    Tensor turned = Tensor::empty(turned_shape);
    const float* from = w.f32();
    float* to = turned.f32();
    for (int64_t o = 0; o < k; ++o)
      for (int64_t i = 0; i < c; ++i)
        for (int64_t tap = 0; tap < 9; ++tap) to[(i * k + o) * 9 + (8 - tap)] = from[(o * c + i) * 9 + tap];
    Tensor u = Tensor::empty({kPoints, k, c});
    winograd::transform_weights(turned.f32(), c, k, u.f32());
    run_winograd(dy, u, nullptr, dx);
    return dx;
  });
}

// x [N,H,W,C], dy [N,H,W,K]: dw [K,C,3,3] += G^T (sum over the groups of images of V^T dM) G; *dbias [K] +=
// the sum of dy.
void conv2d_backward_weights_winograd(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias) {
  const int64_t batch = x.dim(0), k = dw.dim(0), c = dw.dim(1);
  if (!winograd_applies(x.shape(), dw.shape(), Window::square(3, 1, 1), x.dtype()) ||
      dy.shape() != Shape{batch, x.dim(1), x.dim(2), k} || dy.dtype() != DType::f32)
    throw InternalError(
        fmt::format("conv2d backward weights: input {} output gradient {} weight gradient {} is not a "
                    "Winograd convolution",
                    shape_str(x.shape()), shape_str(dy.shape()), shape_str(dw.shape())));
  onednn::translate_errors("conv2d backward weights winograd", [&] {
    winograd::Geometry g = one_nhwc_image(x, c, k);
    // Larger groups than the forward's: each group's matmul reads and writes all of dU [36][C][K].
    g.n = images_per_matmul(g, batch, std::max(kGroupBytes, 4.0 * kPoints * static_cast<double>(c * k)));
    const int64_t tiles = g.tiles();
    memory::desc v_md, dm_md, du_md;
    const onednn::CachedPrimitive first = weight_gradient_matmul(tiles, c, k, false, v_md, dm_md, du_md);
    const onednn::CachedPrimitive next = weight_gradient_matmul(tiles, c, k, true, v_md, dm_md, du_md);
    Tensor v = Tensor::empty({kPoints, tiles, c});
    Tensor dm = Tensor::empty({kPoints, tiles, k});
    Tensor du = Tensor::empty({kPoints, c, k});
    const int64_t image_in = x.dim(1) * x.dim(2) * c, image_out = x.dim(1) * x.dim(2) * k;
    for (int64_t n = 0; n < batch; n += g.n) {
      winograd::transform_input(g, x.f32() + n * image_in, v.f32());
      winograd::transform_output_gradient(g, dy.f32() + n * image_out, dm.f32());
      onednn::execute(n == 0 ? first : next, {{DNNL_ARG_SRC, onednn::wrap(v, v_md)},
                                              {DNNL_ARG_WEIGHTS, onednn::wrap(dm, dm_md)},
                                              {DNNL_ARG_DST, onednn::wrap(du, du_md)}});
    }
    winograd::transform_weights_gradient(du.f32(), k, c, dw.f32());
    if (dbias) add_bias_gradient(dy, *dbias);
  });
}

}  // namespace resnet::ops
