#include "infer/onednn/plan_kernels.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <numeric>
#include <string_view>
#include <unordered_map>

#include "core/aligned_bytes.h"
#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/primitive_cache.h"
#include "infer/onednn/plan_weights.h"
#include "infer/onednn/plan_winograd.h"
#include "resnet/error.h"

namespace resnet::infer {

// The oneDNN helpers of src/dnnl/.
using onednn::cpu_engine;
using onednn::cpu_stream;
using onednn::data_type_of;
using onednn::default_attr;
using onednn::desc_of;
using onednn::dims_key;
using onednn::translate_errors;
using onednn::wrap;

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;

constexpr int kUnbound = -1;

// oneDNN's name of a blocked layout: logical dims a, b, c, ... outermost first, upper case when blocked, then
// the inner blocks ("acdb" is NHWC, "aBcd16b" is nChw16c).
std::string layout_str(const memory::desc& md) {
  if (md.get_format_kind() != memory::format_kind::blocked) return "opaque";
  const memory::dims strides = md.get_strides();
  const memory::dims blocks = md.get_inner_blks();
  const memory::dims block_dims = md.get_inner_idxs();
  std::vector<int> order(static_cast<size_t>(md.get_ndims()));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return strides[a] > strides[b]; });
  std::string out;
  for (int d : order) {
    const bool blocked = std::find(block_dims.begin(), block_dims.end(), d) != block_dims.end();
    const char letter = static_cast<char>('a' + d);
    out += blocked ? static_cast<char>(std::toupper(letter)) : letter;
  }
  for (size_t i = 0; i < blocks.size(); ++i) out += fmt::format("{}{}", blocks[i], char('a' + block_dims[i]));
  return out;
}

std::string_view type_str(dt type) {
  switch (type) {
    case dt::f32:
      return "f32";
    case dt::bf16:
      return "bf16";
    case dt::s8:
      return "s8";
    case dt::u8:
      return "u8";
    default:
      return "?";
  }
}

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

std::string md_str(const memory::desc& md) {
  const std::string_view type = type_str(md.get_data_type());
  return fmt::format("{}:{}:{}", dims_key(md.get_dims()), type, layout_str(md));
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
  if (int8 && step.kind == StepKind::conv) {
    attr.set_scales_mask(DNNL_ARG_SRC, 0);
    attr.set_scales_mask(DNNL_ARG_WEIGHTS, step.window.groups > 1 ? 0b11 : 0b1);  // per output channel
    attr.set_scales_mask(DNNL_ARG_DST, 0);
  }
  return attr;
}

// A runtime scale argument: f32 [n] wrapping `values`.
memory scale_memory(const Tensor& values) {
  return wrap(values, memory::desc({values.numel()}, dt::f32, tag::x));
}

// One primitive and everything it runs with.
struct Kernel {
  std::string name;
  std::string what;  // kind and post-ops, for describe
  dnnl::primitive_desc_base pd;
  dnnl::primitive primitive;
  int src = kUnbound, dst = kUnbound;
  size_t step = 0;
  const Tensor* weight = nullptr;  // the program's f32 weight, described by weight_plain
  memory::desc weight_plain;
  memory weights, bias;                    // weights: in pd.weights_desc(), set by bind()
  std::vector<Tensor> scale_values;        // int8: what the scale memories wrap
  std::unordered_map<int, memory> scales;  // int8: DNNL_ARG_ATTR_SCALES | arg -> scale memory
  std::unordered_map<int, memory> args;    // filled by bind()
  // int8 average pool: a reorder from the integer input (dequantize_from) to f32 `dequantized`, run first.
  memory::desc dequantize_from;
  dnnl::primitive dequantize;
  memory dequantized;
  std::unordered_map<int, memory> dequantize_args;  // filled by bind()
  // A Winograd convolution: pd is its matmul's, weight its transformed U; src and dst are nChw16c.
  std::shared_ptr<WinogradConv> winograd;
};

}  // namespace

struct PlanKernels::Impl {
  const Program& program;
  dt act_type;  // activations and weights of f32/bf16 programs; int8 programs use the types of step.int8
  std::vector<memory::desc> value_md;
  std::vector<size_t> value_bytes;
  Kernel input_reorder;
  std::vector<Kernel> kernels;
  memory user_input, user_logits;  // wrap the caller's tensors; handles set per run
  AlignedBytes scratchpad{nullptr, &std::free};
  size_t scratchpad_bytes = 0;
  // V and M of the Winograd convolutions, one buffer shared by all (they run one after another).
  AlignedBytes winograd_buffer{nullptr, &std::free};
  size_t winograd_buffer_bytes = 0;
  ActivationLayout layout;
  bool winograd;
  int64_t weight_reorders = 0;
  size_t weight_bytes = 0;

  Impl(const Program& p, Precision precision, ActivationLayout l, bool w)
      : program(p), act_type(precision == Precision::bf16 ? dt::bf16 : dt::f32), layout(l), winograd(w) {}

  dt input_type() const { return program.int8 ? dt::s8 : act_type; }
  // The type step writes.
  dt dst_type(const Step& step) const {
    if (program.int8) return data_type_of(step.int8.dst_type);
    return step.kind == StepKind::linear ? dt::f32 : act_type;
  }
  dt weight_type(const Step& step) const {
    if (program.int8) return step.kind == StepKind::conv ? dt::s8 : dt::f32;
    return act_type;
  }
  // What a primitive may pick for a new activation: anything, or NHWC under the channels_last policy.
  memory::desc any_md(const Shape& nhwc, dt type) const {
    return memory::desc(logical(nhwc), type, layout == ActivationLayout::chosen ? tag::any : tag::acdb);
  }
  // The layout value v already has, or `any` when nothing decided it yet (only the input can be undecided).
  memory::desc value_or_any(int v, const Shape& nhwc) const {
    const memory::desc& md = value_md[static_cast<size_t>(v)];
    return md.get_ndims() > 0 ? md : any_md(nhwc, input_type());
  }
  // int8 runtime scales of a conv: the source's and destination's (per tensor), the weights' (per channel).
  static void add_scales(Kernel& k, const Step& step) {
    const StepInt8& q = step.int8;
    k.scale_values = {Tensor::full({1}, q.src_scale), q.weight_scales, Tensor::full({1}, q.dst_scale)};
    const int args[] = {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST};
    for (size_t i = 0; i < 3; ++i)
      k.scales.emplace(DNNL_ARG_ATTR_SCALES | args[i], scale_memory(k.scale_values[i]));
  }
  void decide(int v, const memory::desc& md) { value_md[static_cast<size_t>(v)] = md; }

  // The f32 nChw16c layout of an NHWC-shaped activation: what Winograd steps read and write.
  static memory::desc f32_nchw16c(const Shape& nhwc) {
    return memory::desc(logical(nhwc), dt::f32, tag::nChw16c);
  }

  // Whether step runs as Winograd: f32 plans with the chosen (nChw16c) layouts, where its source (and, when
  // it accumulates, its destination) is nChw16c or not decided yet.
  bool use_winograd(const Step& step, const StepGeometry& g) const {
    if (!winograd || program.int8 || act_type != dt::f32 || layout != ActivationLayout::chosen) return false;
    if (!WinogradConv::applies(step, g)) return false;
    auto blocked16 = [&](int v, const Shape& nhwc) {
      const memory::desc& md = value_md[static_cast<size_t>(v)];
      return md.get_ndims() == 0 || md == f32_nchw16c(nhwc);
    };
    return blocked16(step.src, g.src) && (!step.accumulate || blocked16(step.dst, g.dst));
  }

  Kernel winograd_conv(size_t i, const Step& step, const StepGeometry& g) {
    auto conv = std::make_shared<WinogradConv>(step, g);
    Kernel k{.name = step.name,
             .what = "conv",
             .pd = conv->matmul_pd(),
             .step = i,
             .weight = &conv->plain_weights(),
             .weight_plain = conv->plain_weights_md(),
             .winograd = conv};
    decide(step.src, f32_nchw16c(g.src));
    decide(step.dst, f32_nchw16c(g.dst));
    winograd_buffer_bytes = std::max(winograd_buffer_bytes, conv->buffer_bytes());
    return k;
  }

  Kernel conv(size_t i, const Step& step, const StepGeometry& g) {
    if (use_winograd(step, g)) return winograd_conv(i, step, g);
    const Window& w = g.window;
    const memory::desc dst = step.accumulate
                                 ? with_type(value_md[static_cast<size_t>(step.dst)], dst_type(step))
                                 : any_md(g.dst, dst_type(step));
    const memory::desc bias = memory::desc({g.dst[3]}, dt::f32, tag::x);
    auto pd = dnnl::convolution_forward::primitive_desc(
        cpu_engine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        value_or_any(step.src, g.src), conv_weight_md(step.weight, w.groups, weight_type(step), true), bias,
        dst, {w.stride_h, w.stride_w}, {w.dilation_h - 1, w.dilation_w - 1}, {w.pad_h, w.pad_w},
        {g.pad_bottom, g.pad_right}, step_attr(step, program.int8));
    // int8: the s8 per-channel quantized weight is what gets reordered; f32/bf16: the folded f32 weight.
    const Tensor& plain = program.int8 ? step.int8.weight : step.weight;
    Kernel k{.name = step.name,
             .what = "conv",
             .pd = pd,
             .primitive = dnnl::convolution_forward(pd),
             .step = i,
             .weight = &plain,
             .weight_plain = conv_weight_md(plain, w.groups, data_type_of(plain.dtype()), false)};
    k.bias = wrap(step.bias, bias);
    if (program.int8) add_scales(k, step);
    decide(step.src, pd.src_desc());
    decide(step.dst, pd.dst_desc());
    return k;
  }

  Kernel pool(const Step& step, const StepGeometry& g) {
    const Window& w = g.window;
    const bool max = step.kind == StepKind::max_pool;
    memory::desc src = value_md[static_cast<size_t>(step.src)];
    Kernel k{.name = step.name, .what = max ? "max_pool" : "avg_pool"};
    const dt out = dst_type(step);
    if (src.get_data_type() != out) {
      // oneDNN pools integers only into the same type: an int8 average pool (f32 out) first dequantizes its
      // input into a buffer of its own (f32 = integer * scale; [N, C, 7, 7] for ResNet-50 at 224).
      k.dequantize_from = src;
      src = with_type(src, out);
      dnnl::primitive_attr attr = default_attr();
      attr.set_scales_mask(DNNL_ARG_SRC, 0);
      k.dequantize = dnnl::reorder(
          dnnl::reorder::primitive_desc(cpu_engine(), k.dequantize_from, cpu_engine(), src, attr));
      k.dequantized = memory(src, cpu_engine());
      k.scale_values = {Tensor::full({1}, step.int8.src_scale)};
      k.what += " +dequantize";
    }
    auto pd = dnnl::pooling_forward::primitive_desc(
        cpu_engine(), dnnl::prop_kind::forward_inference,
        max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding, src,
        any_md(g.dst, out), {w.stride_h, w.stride_w}, {w.kernel_h, w.kernel_w}, {0, 0}, {w.pad_h, w.pad_w},
        {g.pad_bottom, g.pad_right}, step_attr(step, program.int8));
    k.pd = pd;
    k.primitive = dnnl::pooling_forward(pd);
    decide(step.dst, pd.dst_desc());
    return k;
  }

  // The classifier writes f32 logits [N, classes] straight into the caller's tensor.
  Kernel linear(size_t i, const Step& step, const StepGeometry& g) {
    const int64_t out = step.weight.dim(0);
    const memory::desc bias = step.bias.defined() ? memory::desc({out}, dt::f32, tag::x) : memory::desc();
    const memory::desc dst({g.dst[0], out}, dt::f32, tag::nc);
    auto pd = dnnl::inner_product_forward::primitive_desc(
        cpu_engine(), dnnl::prop_kind::forward_inference, value_md[static_cast<size_t>(step.src)],
        linear_weight_md(step.weight, weight_type(step), true), bias, dst, step_attr(step, program.int8));
    Kernel k{.name = step.name,
             .what = "linear",
             .pd = pd,
             .primitive = dnnl::inner_product_forward(pd),
             .step = i,
             .weight = &step.weight,
             .weight_plain = linear_weight_md(step.weight, dt::f32, false)};
    if (step.bias.defined()) k.bias = wrap(step.bias, bias);
    decide(step.dst, pd.dst_desc());
    return k;
  }
};

PlanKernels::PlanKernels(const Program& program, const ShapedProgram& shaped, Precision precision,
                         ActivationLayout layout, bool winograd)
    : impl_(std::make_unique<Impl>(program, precision, layout, winograd)) {
  translate_errors("inference plan", [&] {
    Impl& m = *impl_;
    m.value_md.assign(static_cast<size_t>(program.num_values), memory::desc());
    for (size_t i = 0; i < program.steps.size(); ++i) {
      const Step& step = program.steps[i];
      const StepGeometry& g = shaped.steps[i];
      if (step.dst == program.output && step.kind != StepKind::linear) {
        throw InternalError(fmt::format("{}: the plan's output must come from a linear step", step.name));
      }
      if (step.kind != StepKind::conv && m.value_md[static_cast<size_t>(step.src)].get_ndims() == 0) {
        m.decide(step.src,
                 memory::desc(logical(g.src), m.input_type(), g.src.size() == 4 ? tag::nhwc : tag::nc));
      }
      Kernel k;
      switch (step.kind) {
        case StepKind::conv:
          k = m.conv(i, step, g);
          break;
        case StepKind::max_pool:
        case StepKind::avg_pool:
          k = m.pool(step, g);
          break;
        case StepKind::linear:
          k = m.linear(i, step, g);
          break;
      }
      k.src = step.src;
      k.dst = step.dst;
      if (step.accumulate) k.what += " +sum";
      if (step.relu) k.what += " +relu";
      m.kernels.push_back(std::move(k));
    }

    // The edges: the caller's NHWC f32 images into the first step's layout; logits are written in place.
    const Shape& input = shaped.value_shapes[static_cast<size_t>(program.input)];
    const memory::desc user_md = desc_of(input, DType::f32, tag::nhwc);
    const memory::desc input_md = m.value_md[static_cast<size_t>(program.input)];
    dnnl::primitive_attr input_attr = default_attr();
    if (program.int8) input_attr.set_scales_mask(DNNL_ARG_DST, 0);  // s8 = x / input_scale
    auto reorder_pd =
        dnnl::reorder::primitive_desc(cpu_engine(), user_md, cpu_engine(), input_md, input_attr);
    m.input_reorder = {
        .name = "input", .what = "reorder", .pd = reorder_pd, .primitive = dnnl::reorder(reorder_pd)};
    if (program.int8) {
      m.input_reorder.scale_values = {Tensor::full({1}, program.input_scale)};
      m.input_reorder.scales.emplace(DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST,
                                     scale_memory(m.input_reorder.scale_values[0]));
    }
    m.input_reorder.dst = program.input;
    m.user_input = memory(user_md, cpu_engine(), nullptr);
    m.user_logits = memory(m.value_md[static_cast<size_t>(program.output)], cpu_engine(), nullptr);

    m.value_bytes.assign(m.value_md.size(), 0);
    for (size_t v = 0; v < m.value_md.size(); ++v) {
      if (static_cast<int>(v) != program.output) m.value_bytes[v] = m.value_md[v].get_size();
    }
    m.scratchpad_bytes = m.input_reorder.pd.scratchpad_desc().get_size();
    for (const Kernel& k : m.kernels)
      m.scratchpad_bytes = std::max(m.scratchpad_bytes, k.pd.scratchpad_desc().get_size());
  });
}

PlanKernels::~PlanKernels() = default;

const std::vector<size_t>& PlanKernels::value_bytes() const {
  return impl_->value_bytes;
}

int64_t PlanKernels::reference_kernels() const {
  return std::count_if(impl_->kernels.begin(), impl_->kernels.end(), [](const Kernel& k) {
    return std::string_view(k.pd.impl_info_str()).starts_with("ref");
  });
}

void PlanKernels::bind(std::byte* arena, const std::vector<size_t>& offsets, PlanWeights& weights) {
  translate_errors("inference plan", [&] {
    Impl& m = *impl_;
    m.weight_reorders = 0;
    m.weight_bytes = 0;
    for (Kernel& k : m.kernels) {
      if (k.weight == nullptr) continue;
      bool reordered = false;
      k.weights = weights.get(k.step, *k.weight, k.weight_plain, k.pd.weights_desc(), &reordered);
      m.weight_reorders += reordered ? 1 : 0;
      m.weight_bytes += k.pd.weights_desc().get_size();
    }
    if (m.scratchpad_bytes > 0 && m.scratchpad == nullptr)
      m.scratchpad = allocate_aligned_bytes(m.scratchpad_bytes);
    if (m.winograd_buffer_bytes > 0 && m.winograd_buffer == nullptr)
      m.winograd_buffer = allocate_aligned_bytes(m.winograd_buffer_bytes);
    // A value as a primitive sees it (in int8 an accumulated value is s8 to its shortcut's writer and u8 to
    // the rest: the same bytes, two descriptions).
    auto value = [&](int v, const memory::desc& md) {
      return v == m.program.output ? m.user_logits
                                   : memory(md, cpu_engine(), arena + offsets[static_cast<size_t>(v)]);
    };
    auto bind_kernel = [&](Kernel& k, int src_arg, memory src) {
      k.args.clear();
      if (k.dequantize) {
        k.dequantize_args = {{DNNL_ARG_FROM, value(k.src, k.dequantize_from)},
                             {DNNL_ARG_TO, k.dequantized},
                             {DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC, scale_memory(k.scale_values[0])}};
        src = k.dequantized;
      }
      k.args.emplace(src_arg, std::move(src));
      k.args.emplace(k.what == "reorder" ? DNNL_ARG_TO : DNNL_ARG_DST, value(k.dst, k.pd.dst_desc()));
      if (k.weights) k.args.emplace(DNNL_ARG_WEIGHTS, k.weights);
      if (k.bias) k.args.emplace(DNNL_ARG_BIAS, k.bias);
      for (const auto& [arg, scale] : k.scales) k.args.emplace(arg, scale);
      const memory::desc scratch = k.pd.scratchpad_desc();
      if (scratch.get_size() > 0)
        k.args.emplace(DNNL_ARG_SCRATCHPAD, memory(scratch, cpu_engine(), m.scratchpad.get()));
    };
    // A Winograd convolution keeps its matmul's arguments; its own are the nChw16c values (and U).
    auto bind_winograd = [&](Kernel& k) {
      k.winograd->bind(m.winograd_buffer.get(), k.weights, m.scratchpad.get());
      k.args = {{DNNL_ARG_SRC, value(k.src, m.value_md[static_cast<size_t>(k.src)])},
                {DNNL_ARG_DST, value(k.dst, m.value_md[static_cast<size_t>(k.dst)])},
                {DNNL_ARG_WEIGHTS, k.weights}};
    };
    bind_kernel(m.input_reorder, DNNL_ARG_FROM, m.user_input);
    for (Kernel& k : m.kernels) {
      if (k.winograd) {
        bind_winograd(k);
      } else {
        bind_kernel(k, DNNL_ARG_SRC, value(k.src, k.pd.src_desc()));
      }
    }
  });
}

namespace {

// The memory `m` (of shape [N,C,H,W] or [N,K] in any layout and type) as a new f32 NHWC / NC tensor.
Tensor plain_f32_copy(const memory& m) {
  const memory::desc md = m.get_desc();
  const memory::dims d = md.get_dims();
  const bool spatial = d.size() == 4;
  Tensor out = Tensor::empty(spatial ? Shape{d[0], d[2], d[3], d[1]} : Shape(d.begin(), d.end()));
  memory plain = wrap(out, memory::desc(d, dt::f32, spatial ? tag::nhwc : tag::nc));
  dnnl::reorder(m, plain).execute(cpu_stream(), const_cast<memory&>(m), plain);
  cpu_stream().wait();
  return out;
}

}  // namespace

void PlanKernels::run(const float* x, float* logits, const Observer& observer) {
  translate_errors("inference plan", [&] {
    Impl& m = *impl_;
    if (m.input_reorder.args.empty()) throw InternalError("inference plan: run before bind");
    m.user_input.set_data_handle(const_cast<float*>(x));
    m.user_logits.set_data_handle(logits);
    dnnl::stream& stream = cpu_stream();
    m.input_reorder.primitive.execute(stream, m.input_reorder.args);
    if (observer) observer(-1, plain_f32_copy(m.user_input));
    for (size_t i = 0; i < m.kernels.size(); ++i) {
      const Kernel& k = m.kernels[i];
      if (k.dequantize) k.dequantize.execute(stream, k.dequantize_args);
      if (k.winograd) {
        k.winograd->execute(stream, static_cast<const float*>(k.args.at(DNNL_ARG_SRC).get_data_handle()),
                            static_cast<float*>(k.args.at(DNNL_ARG_DST).get_data_handle()));
      } else {
        k.primitive.execute(stream, k.args);
      }
      if (observer) {
        stream.wait();
        observer(static_cast<int>(i), plain_f32_copy(k.args.at(DNNL_ARG_DST)));
      }
    }
    stream.wait();
  });
}

int64_t PlanKernels::primitives() const {
  return static_cast<int64_t>(impl_->kernels.size()) + 1;
}
int64_t PlanKernels::winograd_steps() const {
  return std::count_if(impl_->kernels.begin(), impl_->kernels.end(),
                       [](const Kernel& k) { return k.winograd != nullptr; });
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
  const Kernel& k = impl_->kernels.at(i);
  if (k.winograd) {
    return fmt::format("{} {}: {} -> {} w {} [{}; matmul {}]", k.name, k.what,
                       md_str(impl_->value_md[static_cast<size_t>(k.src)]),
                       md_str(impl_->value_md[static_cast<size_t>(k.dst)]), md_str(k.pd.weights_desc()),
                       k.winograd->describe(), k.pd.impl_info_str());
  }
  std::string text =
      fmt::format("{} {}: {} -> {}", k.name, k.what, md_str(k.pd.src_desc()), md_str(k.pd.dst_desc()));
  if (k.weights) text += fmt::format(" w {}", md_str(k.pd.weights_desc()));
  return text + fmt::format(" [{}]", k.pd.impl_info_str());
}

std::string PlanKernels::describe_input() const {
  const Kernel& k = impl_->input_reorder;
  return fmt::format("input reorder: {} -> {} [{}]", md_str(k.pd.src_desc()), md_str(k.pd.dst_desc()),
                     k.pd.impl_info_str());
}

}  // namespace resnet::infer
