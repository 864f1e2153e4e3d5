#include <fmt/format.h>

#include <utility>

#include "infer/onednn/desc_text.h"
#include "infer/onednn/kernel_kinds.h"

namespace resnet::infer {

ConcatKernel::ConcatKernel(KernelLabel label, const dnnl::concat::primitive_desc& pd, int src, int src2,
                           int dst)
    : label_(std::move(label)), pd_(pd), primitive_(pd), src_(src), src2_(src2), dst_value_(dst) {}

std::unique_ptr<Kernel> ConcatKernel::clone() const {
  auto copy = std::make_unique<ConcatKernel>(*this);
  copy->dst_ = {};
  copy->args_.clear();
  return copy;
}

void ConcatKernel::bind(KernelBinding& binding) {
  dst_ = binding.value(dst_value_, pd_.dst_desc());
  args_ = {{DNNL_ARG_MULTIPLE_SRC, binding.value(src_, pd_.src_desc(0))},
           {DNNL_ARG_MULTIPLE_SRC + 1, binding.value(src2_, pd_.src_desc(1))},
           {DNNL_ARG_DST, dst_}};
  binding.add_scratchpad(args_, pd_.scratchpad_desc());
}

std::string ConcatKernel::describe() const {
  return fmt::format("{}: {} + {} -> {} [{}]", label_.text(), desc_text(pd_.src_desc(0)),
                     desc_text(pd_.src_desc(1)), desc_text(pd_.dst_desc()), pd_.impl_info_str());
}

}  // namespace resnet::infer
