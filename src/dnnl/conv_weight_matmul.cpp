#include "dnnl/conv_weight_matmul.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "dnnl/engine.h"
#include "dnnl/matmul.h"
#include "dnnl/memory.h"
#include "dnnl/primitive_cache.h"
#include "resnet/error.h"

namespace resnet::ops {
namespace {

using dnnl::memory;

// The most patch bytes one group of images builds (and keeps while its matmul runs).
constexpr double kPatchBytes = 64.0 * 1024 * 1024;

// Measured per layer with bench/layer_bench BM_TrainConvBackward (2 threads, Intel Xeon Ice Lake, 3
// interleaved runs against oneDNN's backward-weights convolution, medians; docs/BENCHMARKS.md "Weight
// gradients as matmuls"): 3x3 stride 2 is 1.3-1.9x faster from 64 x 128 channels (K·C = 8192) up, 0.4-0.8x at
// 16 x 32 and 32 x 64 (resnet20), where the patches (9x the input's floats) cost more than the small products
// save; 1x1 (stride 1 or 2) is 1.1-1.6x faster from 256 x 512 channels (131072) up and 0.6-0.95x below, where
// P is large (56², 28²) and K·C small.
constexpr int64_t kMin3x3ChannelProduct = 64 * 128;
constexpr int64_t kMin1x1ChannelProduct = 256 * 512;

bool plain_window(const Window& win) {
  return win.groups == 1 && win.dilation_h == 1 && win.dilation_w == 1;
}

// patches [images·OH·OW, KH·KW·C] of images [first, first + images) of x [N,H,W,C]: row (b, i, j) holds the
// input pixels output (i, j) reads, tap by tap (ky, kx), zeros for padding.
void build_patches(const Tensor& x, const Window& win, int64_t first, int64_t images, int64_t oh, int64_t ow,
                   float* patches) {
  const int64_t h = x.dim(1), w = x.dim(2), c = x.dim(3), kh = win.kernel_h, kw = win.kernel_w;
  const size_t pixel_bytes = static_cast<size_t>(c) * sizeof(float);
  const float* input = x.f32() + first * h * w * c;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < images; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        float* row = patches + ((b * oh + i) * ow + j) * kh * kw * c;
        for (int64_t ky = 0; ky < kh; ++ky) {
          const int64_t hi = i * win.stride_h - win.pad_h + ky;
          for (int64_t kx = 0; kx < kw; ++kx) {
            const int64_t wi = j * win.stride_w - win.pad_w + kx;
            float* tap = row + (ky * kw + kx) * c;
            if (hi < 0 || hi >= h || wi < 0 || wi >= w)
              std::memset(tap, 0, pixel_bytes);
            else
              std::memcpy(tap, input + ((b * h + hi) * w + wi) * c, pixel_bytes);
          }
        }
      }
}

// dst [K, T·C] (+)= dy^T [K, P] · patches [P, T·C]; accumulate: added to what dst holds (a sum post-op).
onednn::CachedPrimitive gradient_matmul(int64_t k, int64_t pixels, int64_t columns, bool accumulate,
                                        memory::desc& dy_t_md, memory::desc& patches_md,
                                        memory::desc& dst_md) {
  dy_t_md = memory::desc({k, pixels}, memory::data_type::f32, memory::dims{1, k});
  patches_md = memory::desc({pixels, columns}, memory::data_type::f32, memory::format_tag::ab);
  dst_md = memory::desc({k, columns}, memory::data_type::f32, memory::format_tag::ab);
  return onednn::cached_matmul(fmt::format("conv2d_bwd_weights_matmul|{}x{}x{}", k, pixels, columns), dy_t_md,
                               patches_md, dst_md, accumulate);
}

// dw [K, C, T] += taps [K, T, C] (T = KH·KW)
void add_taps_into_oihw(const Tensor& taps, Tensor& dw) {
  const int64_t k = dw.dim(0), c = dw.dim(1), t = dw.dim(2) * dw.dim(3);
  const float* from = taps.f32();
  float* to = dw.f32();
#pragma omp parallel for schedule(static)
  for (int64_t o = 0; o < k; ++o)
    for (int64_t tap = 0; tap < t; ++tap)
      for (int64_t i = 0; i < c; ++i) to[(o * c + i) * t + tap] += from[(o * t + tap) * c + i];
}

}  // namespace

bool weight_gradient_matmul_applies(const Shape& x, const Shape& w, const Window& win, DType dtype,
                                    bool bias) {
  return dtype == DType::f32 && !bias && x.size() == 4 && w.size() == 4 && plain_window(win) && x[3] == w[1];
}

bool weight_gradient_as_matmul(const Shape& x, const Shape& w, const Window& win, DType dtype, bool bias) {
  if (!weight_gradient_matmul_applies(x, w, win, dtype, bias)) return false;
  const int64_t channel_product = w[0] * w[1];
  const bool stride1 = win.stride_h == 1 && win.stride_w == 1,
             stride2 = win.stride_h == 2 && win.stride_w == 2;
  if (win.kernel_h == 1 && win.kernel_w == 1 && win.pad_h == 0 && win.pad_w == 0)
    return (stride1 || stride2) && channel_product >= kMin1x1ChannelProduct;
  return win.kernel_h == 3 && win.kernel_w == 3 && win.pad_h == 1 && win.pad_w == 1 && stride2 &&
         channel_product >= kMin3x3ChannelProduct;
}

void conv2d_backward_weights_matmul(const Tensor& x, const Tensor& dy, const Window& win, Tensor& dw) {
  const int64_t batch = x.dim(0), k = dw.dim(0), c = dw.dim(1), taps = dw.dim(2) * dw.dim(3);
  const int64_t oh = win.output_h(x.dim(1)), ow = win.output_w(x.dim(2));
  if (x.dtype() != DType::f32 || dy.dtype() != DType::f32 || !plain_window(win) || x.dim(3) != c ||
      dw.dim(2) != win.kernel_h || dw.dim(3) != win.kernel_w || dy.shape() != Shape{batch, oh, ow, k}) {
    throw InternalError(
        fmt::format("conv2d backward weights: input {} output gradient {} weight gradient {} "
                    "is not an f32 ungrouped undilated convolution",
                    shape_str(x.shape()), shape_str(dy.shape()), shape_str(dw.shape())));
  }
  onednn::translate_errors("conv2d backward weights (matmul)", [&] {
    const int64_t columns = taps * c;
    memory::desc dy_t_md, patches_md, dst_md;
    const bool patches_are_x =
        taps == 1 && win.stride_h == 1 && win.stride_w == 1 && win.pad_h == 0 && win.pad_w == 0;
    if (patches_are_x) {  // 1x1 stride 1: dw [K, C] += dy^T · x, straight into dw
      const onednn::CachedPrimitive matmul =
          gradient_matmul(k, batch * oh * ow, c, true, dy_t_md, patches_md, dst_md);
      onednn::execute(matmul, {{DNNL_ARG_SRC, onednn::wrap(dy, dy_t_md)},
                               {DNNL_ARG_WEIGHTS, onednn::wrap(x, patches_md)},
                               {DNNL_ARG_DST, onednn::wrap(dw, dst_md)}});
      return;
    }
    const int64_t group =
        onednn::images_per_group(batch, static_cast<double>(oh * ow * columns) * sizeof(float), kPatchBytes);
    // One tap: the product is dw [K, C] itself, every group adds into it. Else the groups' sum is taken in
    // [K, T, C] and turned into OIHW at the end.
    Tensor sum = taps == 1 ? Tensor() : Tensor::empty({k, taps, c});
    Tensor& dst = taps == 1 ? dw : sum;
    const onednn::CachedPrimitive first =
        gradient_matmul(k, group * oh * ow, columns, taps == 1, dy_t_md, patches_md, dst_md);
    const onednn::CachedPrimitive next =
        gradient_matmul(k, group * oh * ow, columns, true, dy_t_md, patches_md, dst_md);
    Tensor patches = Tensor::empty({group * oh * ow, columns});
    for (int64_t n = 0; n < batch; n += group) {
      build_patches(x, win, n, group, oh, ow, patches.f32());
      const memory dy_group(dy_t_md, onednn::cpu_engine(), const_cast<float*>(dy.f32()) + n * oh * ow * k);
      onednn::execute(n == 0 ? first : next, {{DNNL_ARG_SRC, dy_group},
                                              {DNNL_ARG_WEIGHTS, onednn::wrap(patches, patches_md)},
                                              {DNNL_ARG_DST, onednn::wrap(dst, dst_md)}});
    }
    if (taps > 1) add_taps_into_oihw(sum, dw);
  });
}

}  // namespace resnet::ops
