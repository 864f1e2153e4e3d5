#include "dnnl/accumulate.h"

#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/primitive_cache.h"

namespace resnet::onednn {
namespace {

// True when diff is f32 ABcd16b16a over dims [O, I, H, W] with O and I multiples of 16 (no padding) and acc
// is the plain OIHW tensor: the layout oneDNN's backward-weights convolutions write their weight gradients in
// here.
bool is_unpadded_16b16a_to_oihw(const dnnl::memory::desc& diff_md, const dnnl::memory::desc& plain_md) {
  const dnnl::memory::dims dims = plain_md.get_dims();
  if (dims.size() != 4 || dims[0] % 16 != 0 || dims[1] % 16 != 0) return false;
  using tag = dnnl::memory::format_tag;
  return plain_md == dnnl::memory::desc(dims, dnnl::memory::data_type::f32, tag::abcd) &&
         diff_md == dnnl::memory::desc(dims, dnnl::memory::data_type::f32, tag::ABcd16b16a);
}

// acc [O][I][S] += diff [O/16][I/16][S][16 i][16 o] (S = H·W): each 16×16 block transposed while it is in L1.
// oneDNN's reorder with a sum post-op does the same 10–17× slower (a 512×2048 1×1 gradient: 7.5 ms on one
// thread against 0.44–0.64 ms; docs/BENCHMARKS.md "Distributed training", session 12), and training runs it
// for every convolution's weights at every step.
void add_16b16a_into_oihw(const float* diff, int64_t out_channels, int64_t in_channels, int64_t spatial,
                          float* acc) {
  const int64_t out_blocks = out_channels / 16, in_blocks = in_channels / 16;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t ob = 0; ob < out_blocks; ++ob)
    for (int64_t ib = 0; ib < in_blocks; ++ib)
      for (int64_t s = 0; s < spatial; ++s) {
        const float* block = diff + ((ob * in_blocks + ib) * spatial + s) * 256;
        for (int64_t o = 0; o < 16; ++o) {
          float* row = acc + ((ob * 16 + o) * in_channels + ib * 16) * spatial + s;
#pragma omp simd
          for (int64_t i = 0; i < 16; ++i) row[i * spatial] += block[i * 16 + o];
        }
      }
}

}  // namespace

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
  if (is_unpadded_16b16a_to_oihw(diff.get_desc(), plain_md)) {
    const dnnl::memory::dims dims = plain_md.get_dims();
    add_16b16a_into_oihw(static_cast<const float*>(diff.get_data_handle()), dims[0], dims[1],
                         dims[2] * dims[3], acc.f32());
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
