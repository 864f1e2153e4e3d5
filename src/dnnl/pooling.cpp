// Max pooling and adaptive average pooling over NHWC activations, forward and backward. Activations are f32
// or bf16 (oneDNN pools bf16 directly; the loop for unequal adaptive bins runs in f32 and converts at its
// edges).
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

void check_activation(const Tensor& x, const char* op) {
  if (x.rank() != 4 || !onednn::is_activation_dtype(x.dtype())) {
    throw InputError(fmt::format("{}: input must be f32 or bf16 [N,H,W,C], got {} {}", op,
                                 dtype_name(x.dtype()), shape_str(x.shape())));
  }
}

// The descriptors of one pooling (shapes + window + algorithm) and the cache key that determines them.
struct PoolGeometry {
  memory::desc x_md, y_md;
  memory::dims kernel, strides, pad_l, pad_r;
  std::string key;
};

// x [N,H,W,C] pooled into y [N,OH,OW,C], the window's floor-mode output size. The windows here are dense
// (dilation 1: maxpool_output_shape checks it; the adaptive pool's bins are).
PoolGeometry pool_geometry(const Shape& x, const Shape& y, DType dtype, dnnl::algorithm algorithm,
                           const Window& win) {
  PoolGeometry g;
  g.x_md = onednn::desc_of(x, dtype, memory::format_tag::nhwc);
  g.y_md = onednn::desc_of(y, dtype, memory::format_tag::nhwc);
  g.kernel = {win.kernel_h, win.kernel_w};
  g.strides = {win.stride_h, win.stride_w};
  g.pad_l = {win.pad_h, win.pad_w};
  // The tightest far padding that gives PyTorch's floor-mode output size (oneDNN wants the sizes to agree).
  g.pad_r = {win.pad_bottom(x[1]), win.pad_right(x[2])};
  g.key = fmt::format("alg={}|{}|src={}|dst={}|k={}|s={}|pl={}|pr={}", static_cast<int>(algorithm),
                      dtype_name(dtype), onednn::dims_key(g.x_md.get_dims()),
                      onednn::dims_key(g.y_md.get_dims()), onednn::dims_key(g.kernel),
                      onednn::dims_key(g.strides), onednn::dims_key(g.pad_l), onednn::dims_key(g.pad_r));
  return g;
}

dnnl::pooling_forward::primitive_desc forward_pd(const PoolGeometry& g, dnnl::algorithm algorithm,
                                                 dnnl::prop_kind prop) {
  return dnnl::pooling_forward::primitive_desc(onednn::cpu_engine(), prop, algorithm, g.x_md, g.y_md,
                                               g.strides, g.kernel, memory::dims{0, 0}, g.pad_l, g.pad_r,
                                               onednn::default_attr());
}

// oneDNN pooling of x [N,H,W,C] into y [N,OH,OW,C] (y's shape decides OH, OW). Padded positions never take
// part: pooling_max ignores them (PyTorch pads with -inf) and pooling_avg_exclude_padding leaves them out of
// the count. With a workspace (max pooling for training), the positions of the maxima are written there.
void pool(const Tensor& x, Tensor& y, dnnl::algorithm algorithm, const Window& win, const char* op,
          Tensor* workspace = nullptr) {
  onednn::translate_errors(op, [&] {
    const PoolGeometry g = pool_geometry(x.shape(), y.shape(), x.dtype(), algorithm, win);
    const bool training = workspace != nullptr;
    onednn::CachedPrimitive p =
        onednn::primitive_cache().get_or_create(fmt::format("pool|training={}|{}", training, g.key), [&] {
          return forward_pd(
              g, algorithm,
              training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference);
        });
    std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, onednn::wrap(x, g.x_md)},
                                            {DNNL_ARG_DST, onednn::wrap(y, g.y_md)}};
    if (training) {
      const memory::desc ws_md = p.pd.workspace_desc();
      *workspace = Tensor::empty({static_cast<int64_t>(ws_md.get_size())}, DType::u8);
      if (ws_md.get_size() > 0) args.emplace(DNNL_ARG_WORKSPACE, onednn::wrap(*workspace, ws_md));
    }
    onednn::execute(p, std::move(args));
  });
}

// The backward of pool(): dy [N,OH,OW,C] into dx [N,H,W,C] (overwritten). Max pooling needs the workspace of
// the training forward.
void pool_backward(const Tensor& dy, Tensor& dx, dnnl::algorithm algorithm, const Window& win, const char* op,
                   const Tensor* workspace = nullptr) {
  onednn::translate_errors(op, [&] {
    const PoolGeometry g = pool_geometry(dx.shape(), dy.shape(), dy.dtype(), algorithm, win);
    onednn::CachedPrimitive p = onednn::primitive_cache().get_or_create("pool_bwd|" + g.key, [&] {
      return dnnl::pooling_backward::primitive_desc(
          onednn::cpu_engine(), algorithm, g.x_md, g.y_md, g.strides, g.kernel, memory::dims{0, 0}, g.pad_l,
          g.pad_r, forward_pd(g, algorithm, dnnl::prop_kind::forward_training), onednn::default_attr());
    });
    std::unordered_map<int, memory> args = {{DNNL_ARG_DIFF_DST, onednn::wrap(dy, g.y_md)},
                                            {DNNL_ARG_DIFF_SRC, onednn::wrap(dx, g.x_md)}};
    const memory::desc ws_md = p.pd.workspace_desc();
    if (ws_md.get_size() > 0) {
      if (workspace == nullptr || workspace->nbytes() != ws_md.get_size()) {
        throw InternalError(
            fmt::format("{}: the workspace does not come from the training forward of this shape", op));
      }
      args.emplace(DNNL_ARG_WORKSPACE, onednn::wrap(*workspace, ws_md));
    }
    onednn::execute(p, std::move(args));
  });
}

// Bin i of `out` bins over `in` positions covers [floor(i*in/out), ceil((i+1)*in/out)).
int64_t bin_start(int64_t i, int64_t in, int64_t out) {
  return i * in / out;
}
int64_t bin_end(int64_t i, int64_t in, int64_t out) {
  return ((i + 1) * in + out - 1) / out;
}

// The window of an adaptive pool whose bins are equal and do not overlap: kh x kw, stride kh x kw.
Window equal_bins(int64_t kh, int64_t kw) {
  return {.kernel_h = kh, .kernel_w = kw, .stride_h = kh, .stride_w = kw};
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

// The backward of adaptive_avgpool_loop: dx (zeroed) += each dy spread over its bin. One sample per
// iteration, since the bins of one sample overlap.
void adaptive_avgpool_backward_loop(const Tensor& dy, Tensor& dx) {
  const int64_t n = dx.dim(0), h = dx.dim(1), w = dx.dim(2), c = dx.dim(3);
  const int64_t oh = dy.dim(1), ow = dy.dim(2);
  const float* in = dy.f32();
  float* out = dx.f32();
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t i = 0; i < oh; ++i) {
      for (int64_t j = 0; j < ow; ++j) {
        const int64_t h0 = bin_start(i, h, oh), h1 = bin_end(i, h, oh);
        const int64_t w0 = bin_start(j, w, ow), w1 = bin_end(j, w, ow);
        const float scale = 1.0f / static_cast<float>((h1 - h0) * (w1 - w0));
        const float* d = in + ((b * oh + i) * ow + j) * c;
        for (int64_t r = h0; r < h1; ++r) {
          for (int64_t q = w0; q < w1; ++q) {
            float* p = out + ((b * h + r) * w + q) * c;
            for (int64_t k = 0; k < c; ++k) p[k] += d[k] * scale;
          }
        }
      }
    }
  }
}

// x [N,H,W,C] -> [N,OH,OW,C] for a max pooling window, validated.
Shape maxpool_output_shape(const Shape& x, const Window& win) {
  const std::string kernel = int_or_pair(win.kernel_h, win.kernel_w);
  const std::string padding = int_or_pair(win.pad_h, win.pad_w);
  if (win.kernel_h < 1 || win.kernel_w < 1 || win.stride_h < 1 || win.stride_w < 1 || win.pad_h < 0 ||
      win.pad_w < 0 || 2 * win.pad_h > win.kernel_h || 2 * win.pad_w > win.kernel_w) {
    throw InputError(
        fmt::format("maxpool2d: invalid kernel={} stride={} padding={} (padding must be at most half "
                    "the kernel)",
                    kernel, int_or_pair(win.stride_h, win.stride_w), padding));
  }
  if (win.dilation_h != 1 || win.dilation_w != 1 || win.groups != 1) {
    throw InputError(
        fmt::format("maxpool2d: dilation={} groups={}: only dilation 1 and groups 1 are supported",
                    int_or_pair(win.dilation_h, win.dilation_w), win.groups));
  }
  const int64_t oh = win.output_h(x[1]);
  const int64_t ow = win.output_w(x[2]);
  if (oh < 1 || ow < 1) {
    throw InputError(fmt::format("maxpool2d: input {} is too small for kernel {} with padding {}",
                                 shape_str(x), kernel, padding));
  }
  return {x[0], oh, ow, x[3]};
}

void check_pool_gradient(const Tensor& dy, const Shape& x_shape, const Shape& y_shape, const char* op) {
  if (dy.shape() != y_shape || !onednn::is_activation_dtype(dy.dtype())) {
    throw InputError(fmt::format("{} backward: output gradient {} {} for an input of {} (output {})", op,
                                 dtype_name(dy.dtype()), shape_str(dy.shape()), shape_str(x_shape),
                                 shape_str(y_shape)));
  }
}

}  // namespace

// x [N,H,W,C] -> [N,OH,OW,C]
Tensor maxpool2d_forward(const Tensor& x, const Window& window) {
  check_activation(x, "maxpool2d");
  Tensor y = Tensor::empty(maxpool_output_shape(x.shape(), window), x.dtype());
  if (shape_only()) return y;
  pool(x, y, dnnl::algorithm::pooling_max, window, "maxpool2d");
  return y;
}

// x [N,H,W,C] -> [N,OH,OW,C]; workspace: where the maxima are, for maxpool2d_backward.
Tensor maxpool2d_forward_training(const Tensor& x, const Window& window, Tensor& workspace) {
  check_activation(x, "maxpool2d");
  Tensor y = Tensor::empty(maxpool_output_shape(x.shape(), window), x.dtype());
  pool(x, y, dnnl::algorithm::pooling_max, window, "maxpool2d", &workspace);
  return y;
}

// dy [N,OH,OW,C] -> dx [N,H,W,C] (x_shape)
Tensor maxpool2d_backward(const Tensor& dy, const Tensor& workspace, const Shape& x_shape,
                          const Window& window) {
  check_pool_gradient(dy, x_shape, maxpool_output_shape(x_shape, window), "maxpool2d");
  Tensor dx = Tensor::empty(x_shape, dy.dtype());
  pool_backward(dy, dx, dnnl::algorithm::pooling_max, window, "maxpool2d backward", &workspace);
  return dx;
}

// x [N,H,W,C] -> [N,OH,OW,C]
Tensor adaptive_avgpool2d_forward(const Tensor& x, int64_t out_h, int64_t out_w) {
  check_activation(x, "adaptive_avgpool2d");
  if (out_h < 1 || out_w < 1) {
    throw InputError(fmt::format("adaptive_avgpool2d: output size {}x{} must be positive", out_h, out_w));
  }
  const int64_t h = x.dim(1), w = x.dim(2);
  Tensor y = Tensor::empty({x.dim(0), out_h, out_w, x.dim(3)}, x.dtype());
  if (shape_only()) return y;
  if (h % out_h == 0 && w % out_w == 0) {
    // Equal, non-overlapping bins: a plain average pooling.
    const int64_t kh = h / out_h, kw = w / out_w;
    pool(x, y, dnnl::algorithm::pooling_avg_exclude_padding, equal_bins(kh, kw), "adaptive_avgpool2d");
  } else if (x.dtype() == DType::f32) {
    adaptive_avgpool_loop(x, y);
  } else {
    Tensor y32 = Tensor::empty(y.shape());
    adaptive_avgpool_loop(convert(x, DType::f32), y32);
    y = convert(y32, x.dtype());
  }
  return y;
}

// dy [N,OH,OW,C] -> dx [N,H,W,C] (x_shape)
Tensor adaptive_avgpool2d_backward(const Tensor& dy, const Shape& x_shape) {
  if (x_shape.size() != 4 || dy.rank() != 4 || x_shape[1] < dy.dim(1) || x_shape[2] < dy.dim(2)) {
    throw InputError(fmt::format("adaptive_avgpool2d backward: output gradient {} for an input of {}",
                                 shape_str(dy.shape()), shape_str(x_shape)));
  }
  const int64_t h = x_shape[1], w = x_shape[2], out_h = dy.dim(1), out_w = dy.dim(2);
  check_pool_gradient(dy, x_shape, {x_shape[0], out_h, out_w, x_shape[3]}, "adaptive_avgpool2d");
  if (h % out_h == 0 && w % out_w == 0) {
    const int64_t kh = h / out_h, kw = w / out_w;
    Tensor dx = Tensor::empty(x_shape, dy.dtype());
    pool_backward(dy, dx, dnnl::algorithm::pooling_avg_exclude_padding, equal_bins(kh, kw),
                  "adaptive_avgpool2d backward");
    return dx;
  }
  Tensor dx(x_shape);  // zeros: overlapping bins add into it
  adaptive_avgpool_backward_loop(convert(dy, DType::f32), dx);
  return convert(dx, dy.dtype());
}

}  // namespace resnet::ops
