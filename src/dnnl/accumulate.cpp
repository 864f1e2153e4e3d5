#include "dnnl/accumulate.h"

#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/primitive_cache.h"

namespace resnet::onednn {

void accumulate(Tensor& acc, const dnnl::memory::desc& plain_md, const dnnl::memory& diff,
                const std::string& key) {
  CachedPrimitive add = primitive_cache().get_or_create(key + "|accumulate", [&] {
    dnnl::post_ops sum;
    sum.append_sum(1.0f);
    dnnl::primitive_attr attr = default_attr();
    attr.set_post_ops(sum);
    return dnnl::reorder::primitive_desc(cpu_engine(), diff.get_desc(), cpu_engine(), plain_md, attr);
  });
  execute(add, {{DNNL_ARG_FROM, diff}, {DNNL_ARG_TO, wrap(acc, plain_md)}});
}

}  // namespace resnet::onednn
