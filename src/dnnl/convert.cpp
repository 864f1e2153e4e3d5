// Element type conversion (f32 <-> bf16) on oneDNN's reorder: the edges of a mixed-precision model.
#include <fmt/format.h>

#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/ops.h"
#include "dnnl/primitive_cache.h"
#include "resnet/error.h"

namespace resnet::ops {

Tensor convert(const Tensor& x, DType dtype) {
  if (!x.defined()) throw InputError("convert: no tensor");
  if (x.dtype() == dtype) return x;
  Tensor y = Tensor::empty(x.shape(), dtype);
  if (shape_only()) return y;
  return onednn::translate_errors("convert", [&] {
    // Seen as flat vectors: one primitive per (element count, dtypes) serves every shape.
    const dnnl::memory::desc from({x.numel()}, onednn::data_type_of(x.dtype()), dnnl::memory::format_tag::a);
    const dnnl::memory::desc to({x.numel()}, onednn::data_type_of(dtype), dnnl::memory::format_tag::a);
    onednn::CachedPrimitive reorder = onednn::primitive_cache().get_or_create(
        fmt::format("convert|n={}|{}->{}", x.numel(), dtype_name(x.dtype()), dtype_name(dtype)), [&] {
          return dnnl::reorder::primitive_desc(onednn::cpu_engine(), from, onednn::cpu_engine(), to,
                                               onednn::default_attr());
        });
    onednn::execute(reorder, {{DNNL_ARG_FROM, onednn::wrap(x, from)}, {DNNL_ARG_TO, onednn::wrap(y, to)}});
    return y;
  });
}

}  // namespace resnet::ops
