#include "dnnl/matmul.h"

#include "dnnl/engine.h"

namespace resnet::onednn {

int64_t images_per_group(int64_t batch, double image_bytes, double group_bytes) {
  int64_t best = 1;
  for (int64_t n = 1; n <= batch; ++n)
    if (batch % n == 0 && static_cast<double>(n) * image_bytes <= group_bytes) best = n;
  return best;
}

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
