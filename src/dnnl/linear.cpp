// linear_forward on oneDNN's inner product: y = x w^T + bias.
#include <fmt/format.h>

#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/ops.h"
#include "dnnl/primitive_cache.h"
#include "resnet/error.h"

namespace resnet::ops {

// x [N,K], w [O,K], bias [O] or undefined -> [N,O]
Tensor linear_forward(const Tensor& x, const Tensor& w, const Tensor& bias) {
  if (x.rank() != 2 || w.rank() != 2 || x.dtype() != DType::f32 || w.dtype() != DType::f32 ||
      x.dim(1) != w.dim(1)) {
    throw InputError(fmt::format("linear: expected f32 input [N,K] and weight [O,K], got {} {} and {} {}",
                                 dtype_name(x.dtype()), shape_str(x.shape()), dtype_name(w.dtype()),
                                 shape_str(w.shape())));
  }
  if (bias.defined() && (bias.rank() != 1 || bias.dim(0) != w.dim(0) || bias.dtype() != DType::f32)) {
    throw InputError(fmt::format("linear: bias must be f32 [{}], got {} {}", w.dim(0),
                                 dtype_name(bias.dtype()), shape_str(bias.shape())));
  }
  Tensor y({x.dim(0), w.dim(0)});

  return onednn::translate_errors("linear", [&] {
    using tag = dnnl::memory::format_tag;
    const dnnl::memory::desc x_md = onednn::desc_of(x.shape(), DType::f32, tag::nc);
    const dnnl::memory::desc w_plain = onednn::desc_of(w.shape(), DType::f32, tag::oi);
    const dnnl::memory::desc b_md =
        bias.defined() ? onednn::desc_of(bias.shape(), DType::f32, tag::x) : dnnl::memory::desc();
    const dnnl::memory::desc y_md = onednn::desc_of(y.shape(), DType::f32, tag::nc);

    const std::string key = fmt::format("linear|src={}|w={}|bias={}", onednn::dims_key(x_md.get_dims()),
                                        onednn::dims_key(w_plain.get_dims()), bias.defined());
    onednn::CachedPrimitive ip = onednn::primitive_cache().get_or_create(key, [&] {
      dnnl::memory::desc w_any(w_plain.get_dims(), dnnl::memory::data_type::f32, tag::any);
      return dnnl::inner_product_forward::primitive_desc(onednn::cpu_engine(),
                                                         dnnl::prop_kind::forward_inference, x_md, w_any,
                                                         b_md, y_md, onednn::default_attr());
    });

    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, onednn::wrap(x, x_md)},
        {DNNL_ARG_WEIGHTS,
         onednn::in_layout(w, w_plain, ip.pd.weights_desc(), key, onednn::ThreadBuffer::weights)},
        {DNNL_ARG_DST, onednn::wrap(y, y_md)},
    };
    if (bias.defined()) args.emplace(DNNL_ARG_BIAS, onednn::wrap(bias, b_md));
    onednn::execute(ip, std::move(args));
    return y;
  });
}

}  // namespace resnet::ops
