#include <fmt/format.h>

#include "dnnl/engine.h"
#include "infer/onednn/desc_text.h"
#include "infer/onednn/kernel_kinds.h"

namespace resnet::infer {

namespace {

dnnl::reorder::primitive_desc input_reorder_pd(const dnnl::memory::desc& images,
                                               const dnnl::memory::desc& input, bool quantize) {
  dnnl::primitive_attr attr = onednn::default_attr();
  if (quantize) attr.set_scales_mask(DNNL_ARG_DST, 0);
  return dnnl::reorder::primitive_desc(onednn::cpu_engine(), images, onednn::cpu_engine(), input, attr);
}

}  // namespace

InputReorderKernel::InputReorderKernel(const dnnl::memory::desc& images, int value,
                                       const dnnl::memory::desc& input, std::optional<float> quantize_scale)
    : value_(value),
      pd_(input_reorder_pd(images, input, quantize_scale.has_value())),
      reorder_(pd_),
      images_(images, onednn::cpu_engine(), nullptr) {
  if (quantize_scale) scales_.add(DNNL_ARG_DST, Tensor::full({1}, *quantize_scale));
}

void InputReorderKernel::set_images(const float* x) {
  images_.set_data_handle(const_cast<float*>(x));
}

std::unique_ptr<Kernel> InputReorderKernel::clone() const {
  auto copy = std::make_unique<InputReorderKernel>(*this);
  copy->images_ = dnnl::memory(pd_.src_desc(), onednn::cpu_engine(), nullptr);  // its own handle, set per run
  copy->dst_ = {};
  copy->args_.clear();
  return copy;
}

void InputReorderKernel::bind(KernelBinding& binding) {
  dst_ = binding.value(value_, pd_.dst_desc());
  args_ = {{DNNL_ARG_FROM, images_}, {DNNL_ARG_TO, dst_}};
  scales_.add_to(args_);
  binding.add_scratchpad(args_, pd_.scratchpad_desc());
}

std::string InputReorderKernel::describe() const {
  return fmt::format("input reorder: {} -> {} [{}]", desc_text(pd_.src_desc()), desc_text(pd_.dst_desc()),
                     pd_.impl_info_str());
}

}  // namespace resnet::infer
