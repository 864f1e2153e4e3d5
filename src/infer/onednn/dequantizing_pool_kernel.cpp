#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "dnnl/engine.h"
#include "infer/onednn/desc_text.h"
#include "infer/onednn/kernel_kinds.h"

namespace resnet::infer {

namespace {

// integer -> f32 `to`, times a runtime scale.
dnnl::reorder::primitive_desc dequantize_pd(const dnnl::memory::desc& integer, const dnnl::memory::desc& to) {
  dnnl::primitive_attr attr = onednn::default_attr();
  attr.set_scales_mask(DNNL_ARG_SRC, 0);
  return dnnl::reorder::primitive_desc(onednn::cpu_engine(), integer, onednn::cpu_engine(), to, attr);
}

// f32 -> integer `to` = round(f32 / a runtime scale), saturated.
dnnl::reorder::primitive_desc quantize_pd(const dnnl::memory::desc& from, const dnnl::memory::desc& to) {
  dnnl::primitive_attr attr = onednn::default_attr();
  attr.set_scales_mask(DNNL_ARG_DST, 0);
  return dnnl::reorder::primitive_desc(onednn::cpu_engine(), from, onednn::cpu_engine(), to, attr);
}

}  // namespace

DequantizingPoolKernel::DequantizingPoolKernel(KernelLabel label,
                                               const dnnl::pooling_forward::primitive_desc& pool, int src,
                                               const dnnl::memory::desc& integer, float scale, int dst,
                                               std::optional<Quantized> out)
    : label_(std::move(label)),
      src_(src),
      dst_value_(dst),
      integer_(integer),
      dequantize_pd_(dequantize_pd(integer, pool.src_desc())),
      dequantize_(dequantize_pd_),
      dequantized_(pool.src_desc(), onednn::cpu_engine()),
      pool_pd_(pool),
      pool_(pool),
      dst_md_(pool.dst_desc()) {
  label_.post_ops.insert(0, " +dequantize");
  scale_.add(DNNL_ARG_SRC, Tensor::full({1}, scale));
  if (out) {
    dst_md_ = out->desc;
    quantize_pd_ = quantize_pd(pool.dst_desc(), dst_md_);
    quantize_.emplace(*quantize_pd_);
    pooled_ = dnnl::memory(pool.dst_desc(), onednn::cpu_engine());
    out_scale_.add(DNNL_ARG_DST, Tensor::full({1}, out->scale));
    label_.post_ops += " +quantize";
  }
}

std::unique_ptr<Kernel> DequantizingPoolKernel::clone() const {
  auto copy = std::make_unique<DequantizingPoolKernel>(*this);
  copy->dequantized_ = dnnl::memory(pool_pd_.src_desc(), onednn::cpu_engine());  // its own f32 buffers
  if (quantize_) copy->pooled_ = dnnl::memory(pool_pd_.dst_desc(), onednn::cpu_engine());
  copy->dst_ = {};
  copy->dequantize_args_.clear();
  copy->pool_args_.clear();
  copy->quantize_args_.clear();
  return copy;
}

void DequantizingPoolKernel::bind(KernelBinding& binding) {
  dequantize_args_ = {{DNNL_ARG_FROM, binding.value(src_, integer_)}, {DNNL_ARG_TO, dequantized_}};
  scale_.add_to(dequantize_args_);
  binding.add_scratchpad(dequantize_args_, dequantize_pd_.scratchpad_desc());
  dst_ = binding.value(dst_value_, dst_md_);
  pool_args_ = {{DNNL_ARG_SRC, dequantized_}, {DNNL_ARG_DST, quantize_ ? pooled_ : dst_}};
  binding.add_scratchpad(pool_args_, pool_pd_.scratchpad_desc());
  if (quantize_) {
    quantize_args_ = {{DNNL_ARG_FROM, pooled_}, {DNNL_ARG_TO, dst_}};
    out_scale_.add_to(quantize_args_);
    binding.add_scratchpad(quantize_args_, quantize_pd_->scratchpad_desc());
  }
}

void DequantizingPoolKernel::run(dnnl::stream& stream) const {
  dequantize_.execute(stream, dequantize_args_);
  pool_.execute(stream, pool_args_);
  if (quantize_) quantize_->execute(stream, quantize_args_);
}

std::string DequantizingPoolKernel::describe() const {
  return fmt::format("{}: {} -> {} [{}]", label_.text(), desc_text(pool_pd_.src_desc()), desc_text(dst_md_),
                     pool_pd_.impl_info_str());
}

size_t DequantizingPoolKernel::scratchpad_bytes() const {
  const size_t quantize = quantize_pd_ ? quantize_pd_->scratchpad_desc().get_size() : 0;
  return std::max(
      {dequantize_pd_.scratchpad_desc().get_size(), pool_pd_.scratchpad_desc().get_size(), quantize});
}

}  // namespace resnet::infer
