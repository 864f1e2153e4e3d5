#include <fmt/format.h>

#include <utility>

#include "dnnl/engine.h"
#include "infer/onednn/desc_text.h"
#include "infer/onednn/kernel_kinds.h"

namespace resnet::infer {

OutputReorderKernel::OutputReorderKernel(std::string name, int value, const dnnl::memory::desc& md,
                                         const dnnl::memory::desc& out)
    : name_(std::move(name)),
      value_(value),
      pd_(onednn::cpu_engine(), md, onednn::cpu_engine(), out, onednn::default_attr()),
      reorder_(pd_),
      out_(out, onednn::cpu_engine(), nullptr) {}

void OutputReorderKernel::set_output(float* out) {
  out_.set_data_handle(out);
}

std::unique_ptr<Kernel> OutputReorderKernel::clone() const {
  auto copy = std::make_unique<OutputReorderKernel>(*this);
  copy->out_ = dnnl::memory(pd_.dst_desc(), onednn::cpu_engine(), nullptr);  // its own handle, set per run
  copy->args_.clear();
  return copy;
}

void OutputReorderKernel::bind(KernelBinding& binding) {
  args_ = {{DNNL_ARG_FROM, binding.value(value_, pd_.src_desc())}, {DNNL_ARG_TO, out_}};
  binding.add_scratchpad(args_, pd_.scratchpad_desc());
}

std::string OutputReorderKernel::describe() const {
  return fmt::format("output {} reorder: {} -> {} [{}]", name_, desc_text(pd_.src_desc()),
                     desc_text(pd_.dst_desc()), pd_.impl_info_str());
}

}  // namespace resnet::infer
