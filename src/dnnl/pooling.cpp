// Max pooling and adaptive average pooling over NHWC activations.
#include <fmt/format.h>

#include <algorithm>

#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/ops.h"
#include "dnnl/primitive_cache.h"
#include "resnet/error.h"

namespace resnet::ops {
namespace {

using dnnl::memory;

struct Window {
  int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
};

void check_activation(const Tensor& x, const char* op) {
  if (x.rank() != 4 || x.dtype() != DType::f32) {
    throw InputError(fmt::format("{}: input must be f32 [N,H,W,C], got {} {}", op, dtype_name(x.dtype()),
                                 shape_str(x.shape())));
  }
}

// oneDNN pooling of x [N,H,W,C] into y [N,OH,OW,C] (y's shape decides OH, OW). Padded positions never take
// part: pooling_max ignores them (PyTorch pads with -inf) and pooling_avg_exclude_padding leaves them out of
// the count.
void pool(const Tensor& x, Tensor& y, dnnl::algorithm algorithm, const Window& win, const char* op) {
  onednn::translate_errors(op, [&] {
    const memory::desc x_md = onednn::desc_of(x.shape(), DType::f32, memory::format_tag::nhwc);
    const memory::desc y_md = onednn::desc_of(y.shape(), DType::f32, memory::format_tag::nhwc);
    const memory::dims kernel = {win.kernel_h, win.kernel_w};
    const memory::dims strides = {win.stride_h, win.stride_w};
    const memory::dims pad_l = {win.pad_h, win.pad_w};
    // The tightest right padding that gives PyTorch's floor-mode output size (oneDNN wants the sizes to
    // agree).
    const memory::dims pad_r = {
        std::max<int64_t>(0, (y.dim(1) - 1) * win.stride_h + win.kernel_h - x.dim(1) - win.pad_h),
        std::max<int64_t>(0, (y.dim(2) - 1) * win.stride_w + win.kernel_w - x.dim(2) - win.pad_w)};

    const std::string key = fmt::format(
        "pool|alg={}|src={}|dst={}|k={}|s={}|pl={}|pr={}", static_cast<int>(algorithm),
        onednn::dims_key(x_md.get_dims()), onednn::dims_key(y_md.get_dims()), onednn::dims_key(kernel),
        onednn::dims_key(strides), onednn::dims_key(pad_l), onednn::dims_key(pad_r));
    onednn::CachedPrimitive p = onednn::primitive_cache().get_or_create(key, [&] {
      return dnnl::pooling_forward::primitive_desc(onednn::cpu_engine(), dnnl::prop_kind::forward_inference,
                                                   algorithm, x_md, y_md, strides, kernel, memory::dims{0, 0},
                                                   pad_l, pad_r, onednn::default_attr());
    });
    onednn::execute(p, {{DNNL_ARG_SRC, onednn::wrap(x, x_md)}, {DNNL_ARG_DST, onednn::wrap(y, y_md)}});
  });
}

// Bin i of `out` bins over `in` positions covers [floor(i*in/out), ceil((i+1)*in/out)).
int64_t bin_start(int64_t i, int64_t in, int64_t out) {
  return i * in / out;
}
int64_t bin_end(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

// Adaptive average pooling with overlapping, unequal bins: one output pixel (all C channels) per iteration.
void adaptive_avgpool_loop(const Tensor& x, Tensor& y) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  const int64_t oh = y.dim(1), ow = y.dim(2);
  const float* in = x.f32();
  float* out = y.f32();
#pragma omp parallel for schedule(static)
  for (int64_t pixel = 0; pixel < n * oh * ow; ++pixel) {
    const int64_t b = pixel / (oh * ow), i = pixel / ow % oh, j = pixel % ow;
    const int64_t h0 = bin_start(i, h, oh), h1 = bin_end(i, h, oh);
    const int64_t w0 = bin_start(j, w, ow), w1 = bin_end(j, w, ow);
    float* o = out + pixel * c;
    std::fill(o, o + c, 0.0f);
    for (int64_t r = h0; r < h1; ++r) {
      for (int64_t q = w0; q < w1; ++q) {
        const float* p = in + ((b * h + r) * w + q) * c;
        for (int64_t k = 0; k < c; ++k) o[k] += p[k];
      }
    }
    const float scale = 1.0f / static_cast<float>((h1 - h0) * (w1 - w0));
    for (int64_t k = 0; k < c; ++k) o[k] *= scale;
  }
}

}  // namespace

// x [N,H,W,C] -> [N,OH,OW,C]
Tensor maxpool2d_forward(const Tensor& x, int64_t kernel, int64_t stride, int64_t pad) {
  check_activation(x, "maxpool2d");
  if (kernel < 1 || stride < 1 || pad < 0 || 2 * pad > kernel) {
    throw InputError(
        fmt::format("maxpool2d: invalid kernel={} stride={} padding={} (padding must be at most half "
                    "the kernel)",
                    kernel, stride, pad));
  }
  const int64_t oh = conv_output_size(x.dim(1), kernel, stride, pad, 1);
  const int64_t ow = conv_output_size(x.dim(2), kernel, stride, pad, 1);
  if (oh < 1 || ow < 1) {
    throw InputError(fmt::format("maxpool2d: input {} is too small for kernel {} with padding {}",
                                 shape_str(x.shape()), kernel, pad));
  }
  Tensor y({x.dim(0), oh, ow, x.dim(3)});
  pool(x, y, dnnl::algorithm::pooling_max, {kernel, kernel, stride, stride, pad, pad}, "maxpool2d");
  return y;
}

// x [N,H,W,C] -> [N,OH,OW,C]
Tensor adaptive_avgpool2d_forward(const Tensor& x, int64_t out_h, int64_t out_w) {
  check_activation(x, "adaptive_avgpool2d");
  if (out_h < 1 || out_w < 1) {
    throw InputError(fmt::format("adaptive_avgpool2d: output size {}x{} must be positive", out_h, out_w));
  }
  const int64_t h = x.dim(1), w = x.dim(2);
  Tensor y({x.dim(0), out_h, out_w, x.dim(3)});
  if (h % out_h == 0 && w % out_w == 0) {
    // Equal, non-overlapping bins: a plain average pooling.
    const int64_t kh = h / out_h, kw = w / out_w;
    pool(x, y, dnnl::algorithm::pooling_avg_exclude_padding, {kh, kw, kh, kw, 0, 0}, "adaptive_avgpool2d");
  } else {
    adaptive_avgpool_loop(x, y);
  }
  return y;
}

}  // namespace resnet::ops
