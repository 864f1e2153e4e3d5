// The kinds of plan kernel (kernel.h). plan_kernels.cpp decides which kind each step is and with which
// layouts; a kind only binds, runs and describes what it was given.
#pragma once

#include <cstddef>
#include <dnnl.hpp>
#include <memory>
#include <optional>
#include <string>

#include "infer/onednn/kernel.h"
#include "infer/onednn/plan_winograd.h"
#include "infer/program.h"
#include "resnet/tensor.h"

namespace resnet::infer {

// A step that is one oneDNN primitive with one source and its post-ops: a direct convolution, a pooling, a
// nearest upsampling (resampling), or the classifier's inner product. An int8 convolution is one too, with
// runtime scales.
class PrimitiveKernel final : public Kernel {
 public:
  // The program's weight of step `step` (PlanWeights' key), described by plain_md, read in place and
  // reordered into pd.weights_desc() by bind().
  struct Weight {
    size_t step = 0;
    const Tensor* plain = nullptr;
    dnnl::memory::desc plain_md;
  };

  // pd reads value src and writes value dst in its own src_desc() and dst_desc(). bias: f32 [out] memory
  // (empty: none).
  PrimitiveKernel(KernelLabel label, const dnnl::primitive_desc_base& pd, int src, int dst,
                  std::optional<Weight> weight = std::nullopt, dnnl::memory bias = {},
                  RuntimeScales scales = {});

  std::unique_ptr<Kernel> clone() const override;
  void bind(KernelBinding& binding) override;
  void run(dnnl::stream& stream) const override { primitive_.execute(stream, args_); }
  const dnnl::memory& output() const override { return dst_; }
  std::string describe() const override;
  size_t scratchpad_bytes() const override { return pd_.scratchpad_desc().get_size(); }
  bool reference() const override { return is_reference(pd_); }

 private:
  KernelLabel label_;
  dnnl::primitive_desc_base pd_;
  dnnl::primitive primitive_;
  int src_, dst_value_;
  std::optional<Weight> weight_;
  dnnl::memory bias_;
  RuntimeScales scales_;
  dnnl::memory dst_;
  ExecArgs args_;  // filled by bind()
};

// An int8 average pool: a reorder dequantizes the input into a buffer of the kernel's own (f32 = integer *
// scale; [N, C, 7, 7] for ResNet-50 at 224; oneDNN pools integers only into the same type, which would keep
// the input's scale), the pool runs in f32, and where the pooled values have a calibrated scale of their own
// a second reorder quantizes them with it (the classifier's int8 input); otherwise the pool writes f32.
class DequantizingPoolKernel final : public Kernel {
 public:
  // src: the integer value, described by `integer`, of scale `scale`; pool reads its f32 copy (in
  // pool.src_desc(), the same layout) and writes f32. dst: that f32 value, or (`out`) the pooled values
  // quantized with out->scale into out->desc (the pool's output layout, an integer type).
  struct Quantized {
    dnnl::memory::desc desc;
    float scale;
  };
  DequantizingPoolKernel(KernelLabel label, const dnnl::pooling_forward::primitive_desc& pool, int src,
                         const dnnl::memory::desc& integer, float scale, int dst,
                         std::optional<Quantized> out = std::nullopt);

  // The description of the kernel's output value.
  const dnnl::memory::desc& dst_desc() const { return dst_md_; }

  std::unique_ptr<Kernel> clone() const override;
  void bind(KernelBinding& binding) override;
  void run(dnnl::stream& stream) const override;
  const dnnl::memory& output() const override { return dst_; }
  std::string describe() const override;
  size_t scratchpad_bytes() const override;
  bool reference() const override { return is_reference(pool_pd_); }

 private:
  KernelLabel label_;
  int src_, dst_value_;
  dnnl::memory::desc integer_;
  RuntimeScales scale_, out_scale_;
  dnnl::reorder::primitive_desc dequantize_pd_;
  dnnl::reorder dequantize_;
  dnnl::memory dequantized_;  // f32, the pool's source
  dnnl::pooling_forward::primitive_desc pool_pd_;
  dnnl::pooling_forward pool_;
  std::optional<dnnl::reorder::primitive_desc> quantize_pd_;  // with a calibrated output scale
  std::optional<dnnl::reorder> quantize_;
  dnnl::memory pooled_;  // f32, the pool's output when it is quantized after
  dnnl::memory::desc dst_md_;
  dnnl::memory dst_;
  ExecArgs dequantize_args_, pool_args_, quantize_args_;  // filled by bind()
};

// A convolution run as Winograd F(4x4, 3x3) (plan_winograd.h), from and to f32 nChw16c values. Its weight is
// the transformed U, shared through PlanWeights like any other.
class WinogradKernel final : public Kernel {
 public:
  // The layout a Winograd convolution reads and writes: f32 nChw16c of an NHWC-shaped activation.
  static dnnl::memory::desc activation_desc(const Shape& nhwc);

  // step (number `index` of the program, read in place at run time) must satisfy WinogradConv::applies.
  WinogradKernel(KernelLabel label, size_t index, const Step& step, const StepGeometry& g);

  const dnnl::memory::desc& src_desc() const { return src_md_; }
  const dnnl::memory::desc& dst_desc() const { return dst_md_; }
  // Of the Winograd buffer (V and M), shared by all Winograd kernels.
  size_t buffer_bytes() const { return conv_.buffer_bytes(); }

  std::unique_ptr<Kernel> clone() const override;
  void bind(KernelBinding& binding) override;
  void run(dnnl::stream& stream) const override;
  const dnnl::memory& output() const override { return dst_; }
  std::string describe() const override;
  size_t scratchpad_bytes() const override { return conv_.matmul_pd().scratchpad_desc().get_size(); }
  bool reference() const override { return is_reference(conv_.matmul_pd()); }

 private:
  KernelLabel label_;
  size_t index_;
  int src_value_, dst_value_;
  dnnl::memory::desc src_md_, dst_md_;
  WinogradConv conv_;
  dnnl::memory src_, dst_, weights_;  // set by bind()
};

// A channel concat of two values (oneDNN concat): dst = [src channels, src2 channels], each source read in
// the layout its producer chose.
class ConcatKernel final : public Kernel {
 public:
  // pd.src_desc(0) is value src's layout, pd.src_desc(1) value src2's; writes value dst in pd.dst_desc().
  ConcatKernel(KernelLabel label, const dnnl::concat::primitive_desc& pd, int src, int src2, int dst);

  std::unique_ptr<Kernel> clone() const override;
  void bind(KernelBinding& binding) override;
  void run(dnnl::stream& stream) const override { primitive_.execute(stream, args_); }
  const dnnl::memory& output() const override { return dst_; }
  std::string describe() const override;
  size_t scratchpad_bytes() const override { return pd_.scratchpad_desc().get_size(); }
  bool reference() const override { return is_reference(pd_); }

 private:
  KernelLabel label_;
  dnnl::concat::primitive_desc pd_;
  dnnl::concat primitive_;
  int src_, src2_, dst_value_;
  dnnl::memory dst_;
  ExecArgs args_;  // filled by bind()
};

// A named output of the plan (a backbone's feature): value `value`, in the layout the plan chose, reordered
// after the steps into the caller's f32 NHWC tensor.
class OutputReorderKernel final : public Kernel {
 public:
  // value: described by `md` in the arena; out: f32 NHWC of the same logical dims.
  OutputReorderKernel(std::string name, int value, const dnnl::memory::desc& md,
                      const dnnl::memory::desc& out);

  // out: where the next run() writes (the caller's tensor, at the pass's first image).
  void set_output(float* out);

  std::unique_ptr<Kernel> clone() const override;
  void bind(KernelBinding& binding) override;
  void run(dnnl::stream& stream) const override { reorder_.execute(stream, args_); }
  const dnnl::memory& output() const override { return out_; }
  std::string describe() const override;
  size_t scratchpad_bytes() const override { return pd_.scratchpad_desc().get_size(); }
  bool reference() const override { return is_reference(pd_); }

 private:
  std::string name_;
  int value_;
  dnnl::reorder::primitive_desc pd_;
  dnnl::reorder reorder_;
  dnnl::memory out_;  // its handle is set per run
  ExecArgs args_;     // filled by bind()
};

// The plan's input: the caller's f32 NHWC images reordered into the layout the first step reads; an int8
// plan quantizes them to s8 on the way (s8 = x / scale).
class InputReorderKernel final : public Kernel {
 public:
  // images: f32 NHWC of the compiled shape; input (value `value`): the first step's layout.
  InputReorderKernel(const dnnl::memory::desc& images, int value, const dnnl::memory::desc& input,
                     std::optional<float> quantize_scale);

  // x: the images of the next run().
  void set_images(const float* x);
  const dnnl::memory& images() const { return images_; }

  std::unique_ptr<Kernel> clone() const override;
  void bind(KernelBinding& binding) override;
  void run(dnnl::stream& stream) const override { reorder_.execute(stream, args_); }
  const dnnl::memory& output() const override { return dst_; }
  std::string describe() const override;
  size_t scratchpad_bytes() const override { return pd_.scratchpad_desc().get_size(); }
  bool reference() const override { return is_reference(pd_); }

 private:
  int value_;
  RuntimeScales scales_;
  dnnl::reorder::primitive_desc pd_;
  dnnl::reorder reorder_;
  dnnl::memory images_;  // its handle is set per run
  dnnl::memory dst_;
  ExecArgs args_;  // filled by bind()
};

}  // namespace resnet::infer
