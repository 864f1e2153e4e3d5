#include "dnnl/matmul.h"

#include "dnnl/engine.h"

namespace resnet::onednn {

CachedPrimitive cached_matmul(const std::string& key, const dnnl::memory::desc& a,
                              const dnnl::memory::desc& b, const dnnl::memory::desc& c, bool accumulate) {
  return primitive_cache().get_or_create(key + (accumulate ? "|accumulate" : "|write"), [&] {
    dnnl::primitive_attr attr = default_attr();
    if (accumulate) {
      dnnl::post_ops sum;
      sum.append_sum();
      attr.set_post_ops(sum);
    }
    return dnnl::matmul::primitive_desc(cpu_engine(), a, b, c, attr);
  });
}

}  // namespace resnet::onednn
