// Nearest-neighbour x2 upsampling of NHWC activations on oneDNN's resampling primitive, forward and backward
// (f32 or bf16). For an exact factor of 2, oneDNN's nearest rule (round((i + 0.5) / 2 - 0.5)) picks source
// row floor(i / 2), as torch's F.interpolate(mode="nearest") does.
#include <fmt/format.h>

#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/ops.h"
#include "dnnl/primitive_cache.h"
#include "resnet/error.h"

namespace resnet::ops {
namespace {

using dnnl::memory;

// The descriptors of one x2 upsampling, x [N,H,W,C] -> y [N,2H,2W,C], and the cache key that determines them.
struct UpsampleGeometry {
  memory::desc x_md, y_md;
  std::string key;
};

UpsampleGeometry upsample_geometry(const Shape& x, DType dtype) {
  const Shape y = {x[0], 2 * x[1], 2 * x[2], x[3]};
  UpsampleGeometry g{onednn::desc_of(x, dtype, memory::format_tag::nhwc),
                     onednn::desc_of(y, dtype, memory::format_tag::nhwc), ""};
  g.key = fmt::format("nearest2x|{}|src={}", dtype_name(dtype), onednn::dims_key(g.x_md.get_dims()));
  return g;
}

dnnl::resampling_forward::primitive_desc forward_pd(const UpsampleGeometry& g, dnnl::prop_kind prop) {
  return dnnl::resampling_forward::primitive_desc(onednn::cpu_engine(), prop,
                                                  dnnl::algorithm::resampling_nearest, g.x_md, g.y_md,
                                                  onednn::default_attr());
}

void check_activation(const Tensor& x, const char* what) {
  if (!x.defined() || x.rank() != 4 || !onednn::is_activation_dtype(x.dtype())) {
    throw InputError(fmt::format("{}: expected f32 or bf16 [N,H,W,C], got {} {}", what,
                                 x.defined() ? dtype_name(x.dtype()) : "none", shape_str(x.shape())));
  }
}

}  // namespace

// x [N,H,W,C] -> y [N,2H,2W,C], y[n,i,j,c] = x[n,i/2,j/2,c]
Tensor upsample_nearest2x_forward(const Tensor& x) {
  check_activation(x, "upsample_nearest2x");
  Tensor y = Tensor::empty({x.dim(0), 2 * x.dim(1), 2 * x.dim(2), x.dim(3)}, x.dtype());
  if (shape_only()) return y;
  onednn::translate_errors("upsample_nearest2x", [&] {
    const UpsampleGeometry g = upsample_geometry(x.shape(), x.dtype());
    onednn::CachedPrimitive p = onednn::primitive_cache().get_or_create(
        "upsample|" + g.key, [&] { return forward_pd(g, dnnl::prop_kind::forward_inference); });
    onednn::execute(p, {{DNNL_ARG_SRC, onednn::wrap(x, g.x_md)}, {DNNL_ARG_DST, onednn::wrap(y, g.y_md)}});
  });
  return y;
}

// dy [N,2H,2W,C] -> dx [N,H,W,C], dx[n,i,j,c] = the sum of dy over the 2x2 block (2i..2i+1, 2j..2j+1)
Tensor upsample_nearest2x_backward(const Tensor& dy) {
  check_activation(dy, "upsample_nearest2x backward");
  if (dy.dim(1) % 2 != 0 || dy.dim(2) % 2 != 0) {
    throw InputError(fmt::format("upsample_nearest2x backward: output gradient {} has an odd height or width",
                                 shape_str(dy.shape())));
  }
  const Shape x_shape = {dy.dim(0), dy.dim(1) / 2, dy.dim(2) / 2, dy.dim(3)};
  Tensor dx = Tensor::empty(x_shape, dy.dtype());
  onednn::translate_errors("upsample_nearest2x backward", [&] {
    const UpsampleGeometry g = upsample_geometry(x_shape, dy.dtype());
    onednn::CachedPrimitive p = onednn::primitive_cache().get_or_create("upsample_bwd|" + g.key, [&] {
      return dnnl::resampling_backward::primitive_desc(
          onednn::cpu_engine(), dnnl::algorithm::resampling_nearest, g.x_md, g.y_md,
          forward_pd(g, dnnl::prop_kind::forward_training), onednn::default_attr());
    });
    onednn::execute(
        p, {{DNNL_ARG_DIFF_DST, onednn::wrap(dy, g.y_md)}, {DNNL_ARG_DIFF_SRC, onednn::wrap(dx, g.x_md)}});
  });
  return dx;
}

}  // namespace resnet::ops
