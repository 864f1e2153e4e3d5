#include "infer/onednn/int8_conv_probe.h"

#include <cstring>
#include <random>

#include "dnnl/engine.h"
#include "dnnl/memory.h"

namespace resnet::infer {

using onednn::cpu_engine;

namespace {

// A memory of `md` filled with the same pseudo-random bytes for every kernel (same seed, same size).
dnnl::memory random_memory(const dnnl::memory::desc& md, uint32_t seed) {
  dnnl::memory m(md, cpu_engine());
  auto* bytes = static_cast<uint8_t*>(m.get_data_handle());
  std::mt19937 rng(seed);
  for (size_t i = 0; i < md.get_size(); ++i) bytes[i] = static_cast<uint8_t>(rng());
  return m;
}

}  // namespace

std::vector<uint8_t> int8_conv_probe(const dnnl::convolution_forward::primitive_desc& pd,
                                     const Tensor& weight, const dnnl::memory::desc& weight_md,
                                     const RuntimeScales& scales) {
  dnnl::stream stream(cpu_engine());
  dnnl::memory plain = onednn::wrap(weight, weight_md);
  dnnl::memory weights(pd.weights_desc(), cpu_engine());
  dnnl::reorder(plain, weights).execute(stream, plain, weights);
  ExecArgs args{{DNNL_ARG_SRC, random_memory(pd.src_desc(), 1)},
                {DNNL_ARG_WEIGHTS, weights},
                {DNNL_ARG_DST, random_memory(pd.dst_desc(), 2)}};  // read by a sum post-op
  for (int arg : {DNNL_ARG_BIAS, DNNL_ARG_SCRATCHPAD}) {  // f32 bias: zeros (random bytes could be NaNs)
    const dnnl::memory::desc md = pd.query_md(dnnl::query::exec_arg_md, arg);
    if (md.get_size() == 0) continue;
    args[arg] = dnnl::memory(md, cpu_engine());
    std::memset(args[arg].get_data_handle(), 0, md.get_size());
  }
  scales.add_to(args);
  dnnl::convolution_forward(pd).execute(stream, args);
  stream.wait();
  const auto* out = static_cast<const uint8_t*>(args.at(DNNL_ARG_DST).get_data_handle());
  return {out, out + pd.dst_desc().get_size()};
}

}  // namespace resnet::infer
