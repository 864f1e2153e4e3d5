// Linear on oneDNN's inner product: y = x w^T + bias, and its backward (data, and weights + bias).
#include <fmt/format.h>

#include "dnnl/accumulate.h"
#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/ops.h"
#include "dnnl/primitive_cache.h"
#include "resnet/error.h"

namespace resnet::ops {
namespace {

using dnnl::memory;
using tag = memory::format_tag;

void check_matrix(const Tensor& t, const char* what, const char* layout) {
  if (t.rank() != 2 || t.dtype() != DType::f32) {
    throw InputError(fmt::format("linear: {} must be f32 {}, got {} {}", what, layout, dtype_name(t.dtype()),
                                 shape_str(t.shape())));
  }
}

void check_bias(const Tensor& bias, int64_t out, const char* what) {
  if (bias.defined() && (bias.rank() != 1 || bias.dim(0) != out || bias.dtype() != DType::f32)) {
    throw InputError(fmt::format("linear: {} must be f32 [{}], got {} {}", what, out,
                                 dtype_name(bias.dtype()), shape_str(bias.shape())));
  }
}

// The descriptors of one inner product (x [N,K], w [O,K]) and the cache key that determines them.
struct LinearGeometry {
  memory::desc x_md, w_plain, w_any, b_md, y_md;
  std::string key;
};

LinearGeometry linear_geometry(int64_t n, int64_t k, int64_t o, bool bias) {
  LinearGeometry g;
  g.x_md = onednn::desc_of({n, k}, DType::f32, tag::nc);
  g.w_plain = onednn::desc_of({o, k}, DType::f32, tag::oi);
  g.w_any = memory::desc(g.w_plain.get_dims(), memory::data_type::f32, tag::any);
  g.b_md = bias ? onednn::desc_of({o}, DType::f32, tag::x) : memory::desc();
  g.y_md = onednn::desc_of({n, o}, DType::f32, tag::nc);
  g.key = fmt::format("src={}|w={}|bias={}", onednn::dims_key(g.x_md.get_dims()),
                      onednn::dims_key(g.w_plain.get_dims()), bias);
  return g;
}

dnnl::inner_product_forward::primitive_desc forward_pd(const LinearGeometry& g, dnnl::prop_kind prop) {
  return dnnl::inner_product_forward::primitive_desc(onednn::cpu_engine(), prop, g.x_md, g.w_any, g.b_md,
                                                     g.y_md, onednn::default_attr());
}

}  // namespace

// x [N,K], w [O,K], bias [O] or undefined -> [N,O]
Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& bias) {
  check_matrix(x, "input", "[N,K]");
  check_matrix(w, "weight", "[O,K]");
  if (x.dim(1) != w.dim(1)) {
    throw InputError(
        fmt::format("linear: input {} does not match weight {}", shape_str(x.shape()), shape_str(w.shape())));
  }
  check_bias(bias, w.dim(0), "bias");
  Tensor y = Tensor::empty({x.dim(0), w.dim(0)});
  if (shape_only()) return y;

  return onednn::translate_errors("linear", [&] {
    const LinearGeometry g = linear_geometry(x.dim(0), x.dim(1), w.dim(0), bias.defined());
    const std::string key = "linear|" + g.key;
    onednn::CachedPrimitive ip = onednn::primitive_cache().get_or_create(
        key, [&] { return forward_pd(g, dnnl::prop_kind::forward_inference); });

    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, onednn::wrap(x, g.x_md)},
        {DNNL_ARG_WEIGHTS,
         onednn::in_layout(w, g.w_plain, ip.pd.weights_desc(), key, onednn::ThreadBuffer::weights)},
        {DNNL_ARG_DST, onednn::wrap(y, g.y_md)},
    };
    if (bias.defined()) args.emplace(DNNL_ARG_BIAS, onednn::wrap(bias, g.b_md));
    onednn::execute(ip, std::move(args));
    return y;
  });
}

// dy [N,O], w [O,K] -> dx [N,K]
Tensor linear_backward_data(const Tensor& dy, const Tensor& w) {
  check_matrix(dy, "output gradient", "[N,O]");
  check_matrix(w, "weight", "[O,K]");
  if (dy.dim(1) != w.dim(0)) {
    throw InputError(fmt::format("linear backward: output gradient {} does not match weight {}",
                                 shape_str(dy.shape()), shape_str(w.shape())));
  }
  Tensor dx = Tensor::empty({dy.dim(0), w.dim(1)});

  return onednn::translate_errors("linear backward data", [&] {
    const LinearGeometry g = linear_geometry(dy.dim(0), w.dim(1), w.dim(0), false);
    const std::string key = "linear_bwd_data|" + g.key;
    onednn::CachedPrimitive ip = onednn::primitive_cache().get_or_create(key, [&] {
      return dnnl::inner_product_backward_data::primitive_desc(
          onednn::cpu_engine(), g.x_md, g.w_any, g.y_md, forward_pd(g, dnnl::prop_kind::forward_training),
          onednn::default_attr());
    });
    onednn::execute(ip, {
                            {DNNL_ARG_DIFF_DST, onednn::wrap(dy, g.y_md)},
                            {DNNL_ARG_WEIGHTS, onednn::in_layout(w, g.w_plain, ip.pd.weights_desc(), key,
                                                                 onednn::ThreadBuffer::weights)},
                            {DNNL_ARG_DIFF_SRC, onednn::wrap(dx, g.x_md)},
                        });
    return dx;
  });
}

// x [N,K], dy [N,O]: dw [O,K] += dy^T x; *dbias [O] += column sums of dy unless dbias is null.
void linear_backward_weights(const Tensor& x, const Tensor& dy, Tensor& dw, Tensor* dbias) {
  check_matrix(x, "input", "[N,K]");
  check_matrix(dy, "output gradient", "[N,O]");
  check_matrix(dw, "weight gradient", "[O,K]");
  if (dy.dim(0) != x.dim(0) || dw.dim(0) != dy.dim(1) || dw.dim(1) != x.dim(1)) {
    throw InputError(
        fmt::format("linear backward: input {}, output gradient {} and weight gradient {} disagree",
                    shape_str(x.shape()), shape_str(dy.shape()), shape_str(dw.shape())));
  }
  if (dbias) check_bias(*dbias, dw.dim(0), "bias gradient");

  onednn::translate_errors("linear backward weights", [&] {
    const LinearGeometry g = linear_geometry(x.dim(0), x.dim(1), dw.dim(0), dbias != nullptr);
    const std::string key = "linear_bwd_weights|" + g.key;
    onednn::CachedPrimitive ip = onednn::primitive_cache().get_or_create(key, [&] {
      return dnnl::inner_product_backward_weights::primitive_desc(
          onednn::cpu_engine(), g.x_md, g.w_any, g.b_md, g.y_md,
          forward_pd(g, dnnl::prop_kind::forward_training), onednn::default_attr());
    });
    onednn::run_backward_weights(ip, x, g.x_md, dy, g.y_md, g.w_plain, g.b_md, dw, dbias, key);
  });
}

}  // namespace resnet::ops
