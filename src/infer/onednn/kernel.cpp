#include "infer/onednn/kernel.h"

#include <utility>

#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "infer/onednn/plan_weights.h"

namespace resnet::infer {

using onednn::cpu_engine;

KernelBinding::KernelBinding(std::byte* arena, const std::vector<size_t>& offsets, int output,
                             dnnl::memory logits, PlanWeights& weights, std::byte* scratchpad,
                             std::byte* winograd_buffer)
    : arena_(arena),
      offsets_(offsets),
      output_(output),
      logits_(std::move(logits)),
      weights_(weights),
      scratchpad_(scratchpad),
      winograd_buffer_(winograd_buffer) {}

dnnl::memory KernelBinding::value(int v, const dnnl::memory::desc& md) const {
  return v == output_ ? logits_ : dnnl::memory(md, cpu_engine(), arena_ + offsets_[static_cast<size_t>(v)]);
}

dnnl::memory KernelBinding::weights(size_t step, const Tensor& plain, const dnnl::memory::desc& plain_md,
                                    const dnnl::memory::desc& wanted) {
  bool reordered = false;
  dnnl::memory out = weights_.get(step, plain, plain_md, wanted, &reordered);
  weight_reorders_ += reordered ? 1 : 0;
  weight_bytes_ += wanted.get_size();
  return out;
}

void KernelBinding::add_scratchpad(ExecArgs& args, const dnnl::memory::desc& md) const {
  if (md.get_size() > 0) args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(md, cpu_engine(), scratchpad_));
}

void RuntimeScales::add(int arg, Tensor values) {
  const dnnl::memory::desc md({values.numel()}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::x);
  memories_.emplace(DNNL_ARG_ATTR_SCALES | arg, onednn::wrap(values, md));
  values_.push_back(std::move(values));
}

void RuntimeScales::add_to(ExecArgs& args) const {
  for (const auto& [arg, scale] : memories_) args.emplace(arg, scale);
}

}  // namespace resnet::infer
