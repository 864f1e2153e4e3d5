// PlanKernels: the kernel builder, which chooses every value's layout while it creates the kernels in program
// order (the rules are in plan_kernels.h), and the public methods, which bind and run what it built.
#include "infer/onednn/plan_kernels.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/aligned_bytes.h"
#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "infer/onednn/conv_tuner.h"
#include "infer/onednn/desc_text.h"
#include "infer/onednn/int8_conv_probe.h"
#include "infer/onednn/kernel.h"
#include "infer/onednn/kernel_kinds.h"
#include "infer/onednn/plan_weights.h"
#include "infer/onednn/plan_winograd.h"
#include "resnet/error.h"

namespace resnet::infer {

// The oneDNN helpers of src/dnnl/.
using onednn::cpu_engine;
using onednn::data_type_of;
using onednn::default_attr;
using onednn::desc_of;
using onednn::translate_errors;
using onednn::wrap;

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

// md with another data type of the same size, same layout (an accumulating int8 conv writes u8 over the s8
// shortcut). oneDNN has no call for it: find the format tag that gives md.
memory::desc with_type(const memory::desc& md, dt type) {
  if (md.get_data_type() == type) return md;
  const std::vector<tag> tags =
      md.get_ndims() == 4 ? std::vector<tag>{tag::nhwc, tag::nchw, tag::nChw16c, tag::nChw8c, tag::nChw4c}
                          : std::vector<tag>{tag::nc};
  for (tag t : tags) {
    if (memory::desc(md.get_dims(), md.get_data_type(), t) == md) return memory::desc(md.get_dims(), type, t);
  }
  throw InternalError("inference plan: cannot retype an activation layout it does not know");
}

// NHWC shape -> oneDNN logical dims {N, C, H, W}; [N, K] stays.
memory::dims logical(const Shape& s) {
  return s.size() == 4 ? memory::dims{s[0], s[3], s[1], s[2]} : memory::dims(s.begin(), s.end());
}

// A conv weight [O, I/g, KH, KW] as oneDNN sees it: 5-D goihw when grouped (the same bytes as OIHW). any:
// for the primitive to choose; else the plain f32 folded weight.
memory::desc conv_weight_md(const Tensor& w, int64_t groups, dt type, bool any) {
  const Shape& s = w.shape();
  if (groups > 1) {
    return memory::desc({groups, s[0] / groups, s[1], s[2], s[3]}, type, any ? tag::any : tag::goihw);
  }
  return memory::desc({s[0], s[1], s[2], s[3]}, type, any ? tag::any : tag::oihw);
}

// A linear weight [O, C] applied to a [N, C, 1, 1] input: {O, C, 1, 1} (the same bytes as [O, C]).
memory::desc linear_weight_md(const Tensor& w, dt type, bool any) {
  return memory::desc({w.dim(0), w.dim(1), 1, 1}, type, any ? tag::any : tag::oihw);
}

dnnl::primitive_attr step_attr(const Step& step, bool int8) {
  dnnl::primitive_attr attr = default_attr();
  dnnl::post_ops post_ops;
  if (step.accumulate) {
    // dst = conv(src) + dst: the residual join. int8: + sum_scale * (the shortcut's integers, read as its
    // type)
    if (int8) {
      post_ops.append_sum(step.int8.sum_scale, 0, data_type_of(step.int8.sum_type));
    } else {
      post_ops.append_sum(1.0f);
    }
  }
  if (step.relu) post_ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  attr.set_post_ops(post_ops);
  if (int8 && step.int8.weight.defined()) {  // a conv, or the classifier reading integers
    attr.set_scales_mask(DNNL_ARG_SRC, 0);
    attr.set_scales_mask(DNNL_ARG_WEIGHTS, step.window.groups > 1 ? 0b11 : 0b1);  // per output channel
    attr.set_scales_mask(DNNL_ARG_DST, 0);
  }
  return attr;
}

// int8 runtime scales of a conv or classifier: the source's and destination's (per tensor), the weights' (per
// channel).
RuntimeScales int8_scales(const StepInt8& q) {
  RuntimeScales scales;
  scales.add(DNNL_ARG_SRC, Tensor::full({1}, q.src_scale));
  scales.add(DNNL_ARG_WEIGHTS, q.weight_scales);
  scales.add(DNNL_ARG_DST, Tensor::full({1}, q.dst_scale));
  return scales;
}

// "layer1.0.conv1 conv +sum +relu"
KernelLabel label(const Step& step, std::string op) {
  std::string post_ops;
  if (step.accumulate) post_ops += " +sum";
  if (step.relu) post_ops += " +relu";
  return {.name = step.name, .op = std::move(op), .post_ops = std::move(post_ops)};
}

// Creates the kernels step by step in program order, choosing each value's layout on the way: the first
// kernel that touches a value decides its layout and the others read it in that layout (an int8 residual join
// only retypes it, s8 to u8, the same bytes).
class KernelBuilder {
 public:
  KernelBuilder(const Program& program, const ShapedProgram& shaped, Precision precision,
                ActivationLayout layout, bool winograd, ConvTuner* tuner)
      : program_(program),
        shaped_(shaped),
        act_type_(precision == Precision::bf16 ? dt::bf16 : dt::f32),
        layout_(layout),
        winograd_(winograd),
        tuner_(tuner),
        value_md_(static_cast<size_t>(program.num_values)) {}

  // Step i's kernel; steps are built in order.
  std::unique_ptr<Kernel> step(size_t i) {
    const Step& step = program_.steps[i];
    const StepGeometry& g = shaped_.steps[i];
    if (step.dst == program_.output && step.kind != StepKind::linear) {
      throw InternalError(fmt::format("{}: the plan's output must come from a linear step", step.name));
    }
    if (step.kind != StepKind::conv && !decided(step.src)) {
      decide(step.src, memory::desc(logical(g.src), input_type(), g.src.size() == 4 ? tag::nhwc : tag::nc));
    }
    if (step.kind == StepKind::concat && !decided(step.src2)) {
      decide(step.src2, memory::desc(logical(value_shape(step.src2)), input_type(), tag::nhwc));
    }
    switch (step.kind) {
      case StepKind::conv:
        if (tuner_ != nullptr) return tuned_conv(i, step, g);
        if (use_winograd(step, g)) return winograd_conv(i, step, g);
        return conv(i, step, g);
      case StepKind::max_pool:
      case StepKind::avg_pool:
        return pool(step, g);
      case StepKind::linear:
        return linear(i, step, g);
      case StepKind::upsample_nearest:
        return upsample_nearest(step, g);
      case StepKind::concat:
        return concat(step);
    }
    throw InternalError(fmt::format("{}: a step of unknown kind", step.name));
  }

  // The edge after the steps for each named output: its value, in the layout chosen, into the caller's f32
  // NHWC tensor.
  std::vector<std::unique_ptr<OutputReorderKernel>> output_reorders() const {
    std::vector<std::unique_ptr<OutputReorderKernel>> kernels;
    for (const ProgramOutput& out : program_.outputs) {
      kernels.push_back(std::make_unique<OutputReorderKernel>(
          out.name, out.value, value_md(out.value), desc_of(value_shape(out.value), DType::f32, tag::nhwc)));
    }
    return kernels;
  }

  // The edge before the steps: the caller's f32 images (NHWC or NCHW) into the layout the first step chose.
  std::unique_ptr<InputReorderKernel> input_reorder(ImageLayout layout) const {
    const Shape& images = shaped_.value_shapes[static_cast<size_t>(program_.input)];
    std::optional<float> quantize_scale;
    if (program_.int8) quantize_scale = program_.input_scale;
    const memory::desc images_md = layout == ImageLayout::nchw
                                       ? desc_of({images[0], images[3], images[1], images[2]}, DType::f32,
                                                 tag::nchw)  // [N,H,W,C] as NCHW
                                       : desc_of(images, DType::f32, tag::nhwc);
    return std::make_unique<InputReorderKernel>(images_md, program_.input, value_md(program_.input),
                                                quantize_scale);
  }

  // The layout chosen for value v.
  const memory::desc& value_md(int v) const { return value_md_[static_cast<size_t>(v)]; }
  int64_t winograd_steps() const { return winograd_steps_; }
  // V and M of the largest Winograd convolution: one buffer serves them all (they run one after another).
  size_t winograd_buffer_bytes() const { return winograd_buffer_bytes_; }

 private:
  dt input_type() const { return program_.int8 ? dt::s8 : act_type_; }
  // The type step writes.
  dt dst_type(const Step& step) const {
    if (program_.int8) return data_type_of(step.int8.dst_type);
    return step.kind == StepKind::linear ? dt::f32 : act_type_;
  }
  // int8: s8 where quantize_program quantized the weight (every conv; the classifier after a calibrated
  // pool).
  dt weight_type(const Step& step) const {
    if (program_.int8) return step.int8.weight.defined() ? dt::s8 : dt::f32;
    return act_type_;
  }

  bool decided(int v) const { return value_md(v).get_ndims() > 0; }
  const Shape& value_shape(int v) const { return shaped_.value_shapes[static_cast<size_t>(v)]; }
  void decide(int v, const memory::desc& md) { value_md_[static_cast<size_t>(v)] = md; }
  // What a primitive may pick for a new activation: anything, or NHWC under the channels_last policy.
  memory::desc any_md(const Shape& nhwc, dt type) const {
    return memory::desc(logical(nhwc), type, layout_ == ActivationLayout::chosen ? tag::any : tag::acdb);
  }
  // The layout value v already has, or `any` when nothing decided it yet (only the input can be undecided).
  memory::desc value_or_any(int v, const Shape& nhwc) const {
    return decided(v) ? value_md(v) : any_md(nhwc, input_type());
  }

  // Whether step runs as Winograd: f32 plans with the chosen (nChw16c) layouts, where its source (and, when
  // it accumulates, its destination) is nChw16c or not decided yet.
  bool use_winograd(const Step& step, const StepGeometry& g) const {
    if (!winograd_ || program_.int8 || act_type_ != dt::f32 || layout_ != ActivationLayout::chosen)
      return false;
    if (!WinogradConv::applies(step, g)) return false;
    auto blocked16 = [&](int v, const Shape& nhwc) {
      return !decided(v) || value_md(v) == WinogradKernel::activation_desc(nhwc);
    };
    return blocked16(step.src, g.src) && (!step.accumulate || blocked16(step.dst, g.dst));
  }

  std::unique_ptr<Kernel> winograd_conv(size_t i, const Step& step, const StepGeometry& g) {
    auto k = std::make_unique<WinogradKernel>(label(step, "conv"), i, step, g);
    decide(step.src, k->src_desc());
    decide(step.dst, k->dst_desc());
    winograd_buffer_bytes_ = std::max(winograd_buffer_bytes_, k->buffer_bytes());
    ++winograd_steps_;
    return k;
  }

  // A oneDNN implementation picked by name (impl_info_str) and the activation layouts it must read and write.
  // Names, not positions in next_impl() order: with oneDNN's primitive cache holding the convolution, the
  // iteration starts with the cached implementation and then lists every implementation again, so the n-th
  // one depends on what was created before (oneDNN 3.2).
  struct NamedImpl {
    std::string name;
    memory::desc src, dst;
  };
  static bool is(const dnnl::convolution_forward::primitive_desc& pd, const NamedImpl& impl) {
    return pd.impl_info_str() == impl.name && pd.src_desc() == impl.src && pd.dst_desc() == impl.dst;
  }

  // oneDNN's implementation of a direct convolution with the layouts decided so far: its first choice, or the
  // first one that `impl` names.
  dnnl::convolution_forward::primitive_desc conv_pd(const Step& step, const StepGeometry& g,
                                                    const std::optional<NamedImpl>& impl = {}) const {
    const Window& w = g.window;
    const memory::desc dst =
        step.accumulate ? with_type(value_md(step.dst), dst_type(step)) : any_md(g.dst, dst_type(step));
    auto pd = dnnl::convolution_forward::primitive_desc(
        cpu_engine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        value_or_any(step.src, g.src), conv_weight_md(step.weight, w.groups, weight_type(step), true),
        conv_bias_md(g), dst, {w.stride_h, w.stride_w}, {w.dilation_h - 1, w.dilation_w - 1},
        {w.pad_h, w.pad_w}, {g.pad_bottom, g.pad_right}, step_attr(step, program_.int8));
    while (impl && !is(pd, *impl)) {
      if (!pd.next_impl())
        throw InternalError(fmt::format("{}: no oneDNN implementation {}", step.name, impl->name));
    }
    return pd;
  }
  static memory::desc conv_bias_md(const StepGeometry& g) {
    return memory::desc({g.dst[3]}, dt::f32, tag::x);
  }

  // Tuning (conv_tuner.h): the candidates are Winograd where use_winograd allows it, and oneDNN's
  // implementations (next_impl order; the reference ones and repeated names left out: the cache names a
  // kernel by its implementation name) that read and write the activation layouts the untuned plan would —
  // Winograd's nChw16c where it applies, else oneDNN's first choice. Tuning changes kernels, never the plan's
  // layouts: a greedy choice of, say, a gemm convolution writing plain NCHW would leave every later
  // convolution without its blocked kernels.
  std::unique_ptr<Kernel> tuned_conv(size_t i, const Step& step, const StepGeometry& g) {
    const bool winograd = use_winograd(step, g);
    std::vector<ConvCandidate> candidates;
    if (winograd) {
      candidates.push_back({"winograd", [&step, &g] { return winograd_runner(step, g); }});
    }
    auto pd = conv_pd(step, g);
    const memory::desc want_src = winograd ? WinogradKernel::activation_desc(g.src) : pd.src_desc();
    const memory::desc want_dst = winograd ? WinogradKernel::activation_desc(g.dst) : pd.dst_desc();
    // int8: what the untuned kernel (the first candidate) writes on the probe, computed when first needed.
    auto untuned_output = std::make_shared<std::optional<std::vector<uint8_t>>>();
    do {
      const NamedImpl impl{pd.impl_info_str(), want_src, want_dst};
      const bool seen = std::any_of(candidates.begin(), candidates.end(),
                                    [&](const auto& c) { return c.name == impl.name; });
      if (is_reference(pd) || seen || !is(pd, impl)) continue;
      ConvCandidate candidate{impl.name, [this, &step, &g, impl] {
                                return direct_runner(conv_pd(step, g, impl), step, program_.int8);
                              }};
      if (program_.int8 && !candidates.empty()) {
        candidate.admissible = [this, &step, &g, impl, untuned_output] {
          if (!*untuned_output) *untuned_output = int8_probe(conv_pd(step, g), step, g);
          return int8_probe(conv_pd(step, g, impl), step, g) == **untuned_output;
        };
      }
      candidates.push_back(std::move(candidate));
    } while (pd.next_impl());
    if (candidates.empty()) return conv(i, step, g);  // only reference code: as without tuning
    const std::string chosen = tuner_->choose(step.name, tuning_key(step, g, winograd), candidates);
    if (chosen == "winograd") return winograd_conv(i, step, g);
    return conv(i, step, g, NamedImpl{chosen, want_src, want_dst});
  }

  // What an int8 kernel writes on int8_conv_probe's input, with the step's weights and scales.
  static std::vector<uint8_t> int8_probe(const dnnl::convolution_forward::primitive_desc& pd,
                                         const Step& step, const StepGeometry& g) {
    const Tensor& weight = step.int8.weight;
    return int8_conv_probe(pd, weight, conv_weight_md(weight, g.window.groups, dt::s8, false),
                           int8_scales(step.int8));
  }

  // What decides a convolution's candidates and their speed: the layouts decided, shapes, window, post-ops,
  // types, and whether Winograd may run.
  std::string tuning_key(const Step& step, const StepGeometry& g, bool winograd) const {
    const Window& w = g.window;
    auto layout = [&](int v, const Shape& nhwc) {
      return decided(v) ? desc_text(value_md(v))
                        : fmt::format("{}x{}x{}x{}:any", nhwc[0], nhwc[3], nhwc[1], nhwc[2]);
    };
    const std::string dst = step.accumulate
                                ? layout(step.dst, g.dst)
                                : fmt::format("{}x{}x{}x{}:{}", g.dst[0], g.dst[3], g.dst[1], g.dst[2],
                                              layout_ == ActivationLayout::chosen ? "any" : "acdb");
    return fmt::format(
        "conv {} -> {} w:{}x{}x{}x{}:{} groups {} stride {}x{} pad {},{},{},{} dilation {}x{}{}{}{}{}",
        layout(step.src, g.src), dst, step.weight.dim(0), step.weight.dim(1), w.kernel_h, w.kernel_w,
        program_.int8 ? "int8" : (act_type_ == dt::bf16 ? "bf16" : "f32"), w.groups, w.stride_h, w.stride_w,
        w.pad_h, w.pad_w, g.pad_bottom, g.pad_right, w.dilation_h, w.dilation_w,
        step.bias.defined() ? " +bias" : "", step.accumulate ? " +sum" : "", step.relu ? " +relu" : "",
        winograd ? " winograd?" : "");
  }

  // One run of a direct convolution on zero-filled buffers of its own (int8: with the step's scales).
  static std::function<void()> direct_runner(const dnnl::convolution_forward::primitive_desc& pd,
                                             const Step& step, bool int8) {
    struct Bench {
      dnnl::convolution_forward primitive;
      std::vector<memory> buffers;
      RuntimeScales scales;
      ExecArgs args;
      dnnl::stream stream{cpu_engine()};
    };
    auto b = std::make_shared<Bench>();
    b->primitive = dnnl::convolution_forward(pd);
    auto zeros = [&](int arg, const memory::desc& md) {
      if (md.get_size() == 0) return;
      memory m(md, cpu_engine());
      std::memset(m.get_data_handle(), 0, md.get_size());
      b->buffers.push_back(m);
      b->args[arg] = m;
    };
    zeros(DNNL_ARG_SRC, pd.src_desc());
    zeros(DNNL_ARG_WEIGHTS, pd.weights_desc());
    zeros(DNNL_ARG_BIAS, pd.bias_desc());
    zeros(DNNL_ARG_DST, pd.dst_desc());
    zeros(DNNL_ARG_SCRATCHPAD, pd.scratchpad_desc());
    if (int8) {
      b->scales = int8_scales(step.int8);
      b->scales.add_to(b->args);
    }
    return [b] {
      b->primitive.execute(b->stream, b->args);
      b->stream.wait();
    };
  }

  // One run of a Winograd convolution on zero-filled buffers of its own.
  static std::function<void()> winograd_runner(const Step& step, const StepGeometry& g) {
    struct Bench {
      explicit Bench(const Step& s, const StepGeometry& geometry) : conv(s, geometry) {}
      WinogradConv conv;
      AlignedBytes buffer{nullptr, &std::free}, scratchpad{nullptr, &std::free};
      AlignedBytes src{nullptr, &std::free}, dst{nullptr, &std::free};
      memory weights;
      dnnl::stream stream{cpu_engine()};
    };
    auto b = std::make_shared<Bench>(step, g);
    auto zeroed = [](size_t bytes) {
      AlignedBytes p = allocate_aligned_bytes(std::max<size_t>(bytes, 64));
      std::memset(p.get(), 0, std::max<size_t>(bytes, 64));
      return p;
    };
    b->buffer = zeroed(b->conv.buffer_bytes());
    b->scratchpad = zeroed(b->conv.matmul_pd().scratchpad_desc().get_size());
    b->src = zeroed(sizeof(float) * static_cast<size_t>(g.src[0] * g.src[1] * g.src[2] * g.src[3]));
    b->dst = zeroed(sizeof(float) * static_cast<size_t>(g.dst[0] * g.dst[1] * g.dst[2] * g.dst[3]));
    b->weights = memory(b->conv.matmul_pd().weights_desc(), cpu_engine());
    std::memset(b->weights.get_data_handle(), 0, b->conv.matmul_pd().weights_desc().get_size());
    b->conv.bind(b->buffer.get(), b->weights, b->scratchpad.get());
    return [b] {
      b->conv.execute(b->stream, reinterpret_cast<const float*>(b->src.get()),
                      reinterpret_cast<float*>(b->dst.get()));
      b->stream.wait();
    };
  }

  std::unique_ptr<Kernel> conv(size_t i, const Step& step, const StepGeometry& g,
                               const std::optional<NamedImpl>& impl = {}) {
    const Window& w = g.window;
    const memory::desc bias = conv_bias_md(g);
    auto pd = conv_pd(step, g, impl);
    decide(step.src, pd.src_desc());
    decide(step.dst, pd.dst_desc());
    // int8: the s8 per-channel quantized weight is what gets reordered; f32/bf16: the folded f32 weight.
    const Tensor& plain = program_.int8 ? step.int8.weight : step.weight;
    const PrimitiveKernel::Weight weight{
        .step = i,
        .plain = &plain,
        .plain_md = conv_weight_md(plain, w.groups, data_type_of(plain.dtype()), false)};
    return std::make_unique<PrimitiveKernel>(label(step, "conv"), pd, step.src, step.dst, weight,
                                             wrap(step.bias, bias),
                                             program_.int8 ? int8_scales(step.int8) : RuntimeScales());
  }

  std::unique_ptr<Kernel> pool(const Step& step, const StepGeometry& g) {
    const Window& w = g.window;
    const bool max = step.kind == StepKind::max_pool;
    const memory::desc src = value_md(step.src);
    // An int8 average pool runs in f32 between a dequantizing and (with a scale of its own) a quantizing
    // reorder: oneDNN pools integers only into the same type, at the input's scale.
    const bool dequantize = program_.int8 && !max;
    auto pd = dnnl::pooling_forward::primitive_desc(
        cpu_engine(), dnnl::prop_kind::forward_inference,
        max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding,
        dequantize ? with_type(src, dt::f32) : src, any_md(g.dst, dequantize ? dt::f32 : dst_type(step)),
        {w.stride_h, w.stride_w}, {w.kernel_h, w.kernel_w}, {0, 0}, {w.pad_h, w.pad_w},
        {g.pad_bottom, g.pad_right}, step_attr(step, program_.int8));
    KernelLabel name = label(step, max ? "max_pool" : "avg_pool");
    if (!dequantize) {
      decide(step.dst, pd.dst_desc());
      return std::make_unique<PrimitiveKernel>(std::move(name), pd, step.src, step.dst);
    }
    std::optional<DequantizingPoolKernel::Quantized> out;
    if (dst_type(step) != dt::f32) out = {with_type(pd.dst_desc(), dst_type(step)), step.int8.dst_scale};
    auto k = std::make_unique<DequantizingPoolKernel>(std::move(name), pd, step.src, src, step.int8.src_scale,
                                                      step.dst, out);
    decide(step.dst, k->dst_desc());
    return k;
  }

  // x2 nearest: oneDNN's nearest resampling picks source row floor(oh / 2) for an integer factor, as torch's
  // interpolate(mode="nearest") does.
  std::unique_ptr<Kernel> upsample_nearest(const Step& step, const StepGeometry& g) {
    refuse_post_ops(step);
    auto pd = dnnl::resampling_forward::primitive_desc(
        cpu_engine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::resampling_nearest,
        value_md(step.src), any_md(g.dst, dst_type(step)), default_attr());
    decide(step.dst, pd.dst_desc());
    return std::make_unique<PrimitiveKernel>(label(step, "upsample_nearest"), pd, step.src, step.dst);
  }

  // Channel concat: each source as its producer laid it out; oneDNN picks the output's layout from them.
  std::unique_ptr<Kernel> concat(const Step& step) {
    refuse_post_ops(step);
    auto pd = dnnl::concat::primitive_desc(cpu_engine(), 1, {value_md(step.src), value_md(step.src2)},
                                           default_attr());
    decide(step.dst, pd.dst_desc());
    return std::make_unique<ConcatKernel>(label(step, "concat"), pd, step.src, step.src2, step.dst);
  }

  // Upsample and concat fuse nothing: the conv that reads them carries the ReLU.
  static void refuse_post_ops(const Step& step) {
    if (step.accumulate || step.relu) {
      throw InternalError(
          fmt::format("{}: a {} step takes no residual join or ReLU", step.name, step_kind_name(step.kind)));
    }
  }

  // The classifier writes f32 logits [N, classes] straight into the caller's tensor.
  std::unique_ptr<Kernel> linear(size_t i, const Step& step, const StepGeometry& g) {
    const int64_t out = step.weight.dim(0);
    const memory::desc bias = step.bias.defined() ? memory::desc({out}, dt::f32, tag::x) : memory::desc();
    const memory::desc dst({g.dst[0], out}, dt::f32, tag::nc);
    auto pd = dnnl::inner_product_forward::primitive_desc(
        cpu_engine(), dnnl::prop_kind::forward_inference, value_md(step.src),
        linear_weight_md(step.weight, weight_type(step), true), bias, dst, step_attr(step, program_.int8));
    decide(step.dst, pd.dst_desc());
    // int8 after a calibrated pool: the s8 per-channel quantized weight is what gets reordered.
    const bool integers = program_.int8 && step.int8.weight.defined();
    const Tensor& plain = integers ? step.int8.weight : step.weight;
    const PrimitiveKernel::Weight weight{
        .step = i, .plain = &plain, .plain_md = linear_weight_md(plain, data_type_of(plain.dtype()), false)};
    return std::make_unique<PrimitiveKernel>(label(step, "linear"), pd, step.src, step.dst, weight,
                                             step.bias.defined() ? wrap(step.bias, bias) : memory(),
                                             integers ? int8_scales(step.int8) : RuntimeScales());
  }

  const Program& program_;
  const ShapedProgram& shaped_;
  dt act_type_;  // activations and weights of f32/bf16 programs; int8 programs use the types of step.int8
  ActivationLayout layout_;
  bool winograd_;
  ConvTuner* tuner_;                    // null: no tuning
  std::vector<memory::desc> value_md_;  // empty (0 dims) until decided
  int64_t winograd_steps_ = 0;
  size_t winograd_buffer_bytes_ = 0;
};

// The memory `m` (of shape [N,C,H,W] or [N,K] in any layout and type) as a new f32 NHWC / NC tensor.
Tensor plain_f32_copy(const memory& m, dnnl::stream& stream) {
  const memory::desc md = m.get_desc();
  const memory::dims d = md.get_dims();
  const bool spatial = d.size() == 4;
  Tensor out = Tensor::empty(spatial ? Shape{d[0], d[2], d[3], d[1]} : Shape(d.begin(), d.end()));
  memory plain = wrap(out, memory::desc(d, dt::f32, spatial ? tag::nhwc : tag::nc));
  dnnl::reorder(m, plain).execute(stream, const_cast<memory&>(m), plain);
  stream.wait();
  return out;
}

}  // namespace

struct PlanKernels::Impl {
  int output = 0;  // the value written into the caller's logits
  std::unique_ptr<InputReorderKernel> input;
  std::vector<std::unique_ptr<Kernel>> steps;
  std::vector<std::unique_ptr<OutputReorderKernel>> outputs;  // the named outputs, in order
  memory logits;  // the caller's tensor; its handle is set per run
  std::vector<size_t> value_bytes;
  AlignedBytes scratchpad{nullptr, &std::free};
  size_t scratchpad_bytes = 0;
  AlignedBytes winograd_buffer{nullptr, &std::free};
  size_t winograd_buffer_bytes = 0;
  int64_t winograd_steps = 0;
  int64_t weight_reorders = 0;
  size_t weight_bytes = 0;
  // Its own stream: a oneDNN stream is not shared between threads (bind() makes it).
  dnnl::stream stream;
  bool bound = false;
};

PlanKernels::PlanKernels(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

PlanKernels::PlanKernels(const Program& program, const ShapedProgram& shaped, Precision precision,
                         ActivationLayout layout, bool winograd, ImageLayout images, ConvTuner* tuner)
    : impl_(std::make_unique<Impl>()) {
  translate_errors("inference plan", [&] {
    Impl& m = *impl_;
    KernelBuilder builder(program, shaped, precision, layout, winograd, tuner);
    for (size_t i = 0; i < program.steps.size(); ++i) m.steps.push_back(builder.step(i));
    m.input = builder.input_reorder(images);
    m.outputs = builder.output_reorders();
    m.output = program.output;
    if (program.output >= 0) m.logits = memory(builder.value_md(program.output), cpu_engine(), nullptr);

    m.value_bytes.assign(static_cast<size_t>(program.num_values), 0);
    for (int v = 0; v < program.num_values; ++v) {
      if (v != program.output) m.value_bytes[static_cast<size_t>(v)] = builder.value_md(v).get_size();
    }
    m.scratchpad_bytes = m.input->scratchpad_bytes();
    for (const auto& k : m.steps) m.scratchpad_bytes = std::max(m.scratchpad_bytes, k->scratchpad_bytes());
    for (const auto& k : m.outputs) m.scratchpad_bytes = std::max(m.scratchpad_bytes, k->scratchpad_bytes());
    m.winograd_buffer_bytes = builder.winograd_buffer_bytes();
    m.winograd_steps = builder.winograd_steps();
  });
}

PlanKernels::~PlanKernels() = default;

std::unique_ptr<PlanKernels> PlanKernels::clone() const {
  return translate_errors("inference plan", [&] {
    const Impl& m = *impl_;
    auto copy = std::make_unique<Impl>();
    copy->output = m.output;
    // A kind's clone is of its kind.
    copy->input.reset(static_cast<InputReorderKernel*>(m.input->clone().release()));
    for (const auto& k : m.steps) copy->steps.push_back(k->clone());
    for (const auto& k : m.outputs)
      copy->outputs.emplace_back(static_cast<OutputReorderKernel*>(k->clone().release()));
    if (m.logits) copy->logits = memory(m.logits.get_desc(), cpu_engine(), nullptr);
    copy->value_bytes = m.value_bytes;
    copy->scratchpad_bytes = m.scratchpad_bytes;
    copy->winograd_buffer_bytes = m.winograd_buffer_bytes;
    copy->winograd_steps = m.winograd_steps;
    return std::unique_ptr<PlanKernels>(new PlanKernels(std::move(copy)));
  });
}

const std::vector<size_t>& PlanKernels::value_bytes() const {
  return impl_->value_bytes;
}

int64_t PlanKernels::reference_kernels() const {
  return std::count_if(impl_->steps.begin(), impl_->steps.end(),
                       [](const auto& k) { return k->reference(); });
}

void PlanKernels::bind(std::byte* arena, const std::vector<size_t>& offsets, PlanWeights& weights) {
  translate_errors("inference plan", [&] {
    Impl& m = *impl_;
    if (m.scratchpad_bytes > 0 && m.scratchpad == nullptr)
      m.scratchpad = allocate_aligned_bytes(m.scratchpad_bytes);
    if (m.winograd_buffer_bytes > 0 && m.winograd_buffer == nullptr)
      m.winograd_buffer = allocate_aligned_bytes(m.winograd_buffer_bytes);
    KernelBinding binding(arena, offsets, m.output, m.logits, weights, m.scratchpad.get(),
                          m.winograd_buffer.get());
    m.input->bind(binding);
    for (const auto& k : m.steps) k->bind(binding);
    for (const auto& k : m.outputs) k->bind(binding);
    m.weight_reorders = binding.weight_reorders();
    m.weight_bytes = binding.weight_bytes();
    m.stream = dnnl::stream(cpu_engine());
    m.bound = true;
  });
}

void PlanKernels::run(const float* x, float* logits, const std::vector<float*>& outputs,
                      const Observer& observer) {
  translate_errors("inference plan", [&] {
    Impl& m = *impl_;
    if (!m.bound) throw InternalError("inference plan: run before bind");
    if (outputs.size() != m.outputs.size()) {
      throw InternalError(
          fmt::format("inference plan: {} output tensors for {} outputs", outputs.size(), m.outputs.size()));
    }
    m.input->set_images(x);
    if (m.output >= 0) m.logits.set_data_handle(logits);
    dnnl::stream& stream = m.stream;
    m.input->run(stream);
    if (observer) observer(-1, plain_f32_copy(m.input->images(), stream));
    for (size_t i = 0; i < m.steps.size(); ++i) {
      const Kernel& k = *m.steps[i];
      k.run(stream);
      if (observer) {
        stream.wait();
        observer(static_cast<int>(i), plain_f32_copy(k.output(), stream));
      }
    }
    for (size_t o = 0; o < m.outputs.size(); ++o) {
      m.outputs[o]->set_output(outputs[o]);
      m.outputs[o]->run(stream);
    }
    stream.wait();
  });
}

int64_t PlanKernels::primitives() const {
  return static_cast<int64_t>(impl_->steps.size() + impl_->outputs.size()) + 1;
}
int64_t PlanKernels::winograd_steps() const {
  return impl_->winograd_steps;
}
int64_t PlanKernels::weight_reorders() const {
  return impl_->weight_reorders;
}
size_t PlanKernels::weight_bytes() const {
  return impl_->weight_bytes;
}
size_t PlanKernels::scratchpad_bytes() const {
  return impl_->scratchpad_bytes + impl_->winograd_buffer_bytes;
}

std::string PlanKernels::describe_step(size_t i) const {
  return impl_->steps.at(i)->describe();
}

std::string PlanKernels::describe_input() const {
  return impl_->input->describe();
}

std::string PlanKernels::describe_output(size_t i) const {
  return impl_->outputs.at(i)->describe();
}

}  // namespace resnet::infer
