#include <fmt/format.h>

#include <utility>

#include "infer/onednn/desc_text.h"
#include "infer/onednn/kernel_kinds.h"

namespace resnet::infer {

PrimitiveKernel::PrimitiveKernel(KernelLabel label, const dnnl::primitive_desc_base& pd, int src, int dst,
                                 std::optional<Weight> weight, dnnl::memory bias, RuntimeScales scales)
    : label_(std::move(label)),
      pd_(pd),
      primitive_(pd.get()),
      src_(src),
      dst_value_(dst),
      weight_(std::move(weight)),
      bias_(std::move(bias)),
      scales_(std::move(scales)) {}

std::unique_ptr<Kernel> PrimitiveKernel::clone() const {
  auto copy = std::make_unique<PrimitiveKernel>(*this);
  copy->dst_ = {};
  copy->args_.clear();
  return copy;
}

void PrimitiveKernel::bind(KernelBinding& binding) {
  dst_ = binding.value(dst_value_, pd_.dst_desc());
  args_ = {{DNNL_ARG_SRC, binding.value(src_, pd_.src_desc())}, {DNNL_ARG_DST, dst_}};
  if (weight_) {
    args_.emplace(DNNL_ARG_WEIGHTS,
                  binding.weights(weight_->step, *weight_->plain, weight_->plain_md, pd_.weights_desc()));
  }
  if (bias_) args_.emplace(DNNL_ARG_BIAS, bias_);
  scales_.add_to(args_);
  binding.add_scratchpad(args_, pd_.scratchpad_desc());
}

std::string PrimitiveKernel::describe() const {
  std::string text =
      fmt::format("{}: {} -> {}", label_.text(), desc_text(pd_.src_desc()), desc_text(pd_.dst_desc()));
  if (weight_) text += fmt::format(" w {}", desc_text(pd_.weights_desc()));
  return text + fmt::format(" [{}]", pd_.impl_info_str());
}

}  // namespace resnet::infer
