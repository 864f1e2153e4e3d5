#include <fmt/format.h>

#include <utility>

#include "dnnl/memory.h"
#include "infer/onednn/desc_text.h"
#include "infer/onednn/kernel_kinds.h"

namespace resnet::infer {

dnnl::memory::desc WinogradKernel::activation_desc(const Shape& nhwc) {
  using tag = dnnl::memory::format_tag;
  return dnnl::memory::desc(onednn::logical_dims(nhwc, tag::nhwc), dnnl::memory::data_type::f32,
                            tag::nChw16c);
}

WinogradKernel::WinogradKernel(KernelLabel label, size_t index, const Step& step, const StepGeometry& g)
    : label_(std::move(label)),
      index_(index),
      src_value_(step.src),
      dst_value_(step.dst),
      src_md_(activation_desc(g.src)),
      dst_md_(activation_desc(g.dst)),
      conv_(step, g) {}

std::unique_ptr<Kernel> WinogradKernel::clone() const {
  auto copy = std::make_unique<WinogradKernel>(*this);  // conv_'s copy is unbound
  copy->src_ = {};
  copy->dst_ = {};
  copy->weights_ = {};
  return copy;
}

// The matmul keeps its own arguments (V, U, M in the Winograd buffer); the kernel's are the two values.
void WinogradKernel::bind(KernelBinding& binding) {
  const dnnl::matmul::primitive_desc& matmul = conv_.matmul_pd();
  weights_ = binding.weights(index_, conv_.plain_weights(), conv_.plain_weights_md(), matmul.weights_desc());
  conv_.bind(binding.winograd_buffer(), weights_, binding.scratchpad());
  src_ = binding.value(src_value_, src_md_);
  dst_ = binding.value(dst_value_, dst_md_);
}

void WinogradKernel::run(dnnl::stream& stream) const {
  conv_.execute(stream, static_cast<const float*>(src_.get_data_handle()),
                static_cast<float*>(dst_.get_data_handle()));
}

std::string WinogradKernel::describe() const {
  return fmt::format("{}: {} -> {} w {} [{}; matmul {}]", label_.text(), desc_text(src_md_),
                     desc_text(dst_md_), desc_text(conv_.matmul_pd().weights_desc()), conv_.describe(),
                     conv_.matmul_pd().impl_info_str());
}

}  // namespace resnet::infer
