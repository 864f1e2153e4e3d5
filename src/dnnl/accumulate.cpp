#include "dnnl/accumulate.h"

#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/primitive_cache.h"

namespace resnet::onednn {

void accumulate(Tensor& acc, const dnnl::memory::desc& plain_md, const dnnl::memory& diff,
                const std::string& key) {
  if (diff.get_desc() == plain_md) {
    // Same layout: a plain loop, which for the many small vectors (BN scale/shift, biases) also saves
    // starting a parallel primitive.
    const float* from = static_cast<const float*>(diff.get_data_handle());
    float* to = acc.f32();
    const int64_t n = acc.numel();
#pragma omp parallel for simd schedule(static) if (n > (int64_t{1} << 16))
    for (int64_t i = 0; i < n; ++i) to[i] += from[i];
    return;
  }
  CachedPrimitive add = primitive_cache().get_or_create(key + "|accumulate", [&] {
    dnnl::post_ops sum;
    sum.append_sum(1.0f);
    dnnl::primitive_attr attr = default_attr();
    attr.set_post_ops(sum);
    return dnnl::reorder::primitive_desc(cpu_engine(), diff.get_desc(), cpu_engine(), plain_md, attr);
  });
  execute(add, {{DNNL_ARG_FROM, diff}, {DNNL_ARG_TO, wrap(acc, plain_md)}});
}

void run_backward_weights(const CachedPrimitive& primitive, const Tensor& x, const dnnl::memory::desc& x_md,
                          const Tensor& dy, const dnnl::memory::desc& dy_md,
                          const dnnl::memory::desc& w_plain_md, const dnnl::memory::desc& b_md, Tensor& dw,
                          Tensor* dbias, const std::string& key) {
  // This call's gradients, in the primitive's layout, then added into the caller's.
  const dnnl::memory dw_now = thread_memory(ThreadBuffer::weights, primitive.pd.diff_weights_desc());
  Tensor db_now = dbias ? Tensor::empty(dbias->shape()) : Tensor();
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, wrap(x, x_md)},
      {DNNL_ARG_DIFF_DST, wrap(dy, dy_md)},
      {DNNL_ARG_DIFF_WEIGHTS, dw_now},
  };
  if (dbias) args.emplace(DNNL_ARG_DIFF_BIAS, wrap(db_now, b_md));
  execute(primitive, std::move(args));
  accumulate(dw, w_plain_md, dw_now, key + "|w");
  if (dbias) accumulate(*dbias, b_md, wrap(db_now, b_md), key + "|b");
}

}  // namespace resnet::onednn
