#include "dnnl/plan_kernels.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <new>
#include <numeric>
#include <string_view>
#include <unordered_map>

#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/plan_weights.h"
#include "dnnl/primitive_cache.h"
#include "resnet/error.h"

namespace resnet::onednn {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;
using infer::Step;
using infer::StepGeometry;
using infer::StepKind;

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

std::string md_str(const memory::desc& md) {
  const char* type = md.get_data_type() == dt::bf16 ? "bf16" : md.get_data_type() == dt::f32 ? "f32" : "?";
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

dnnl::primitive_attr step_attr(const Step& step) {
  dnnl::primitive_attr attr = default_attr();
  dnnl::post_ops post_ops;
  if (step.accumulate) post_ops.append_sum(1.0f);  // dst = conv(src) + dst: the residual join
  if (step.relu) post_ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  attr.set_post_ops(post_ops);
  return attr;
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
  memory weights, bias;                  // weights: in pd.weights_desc(), set by bind()
  std::unordered_map<int, memory> args;  // filled by bind()
};

}  // namespace

struct PlanKernels::Impl {
  const infer::Program& program;
  dt act_type;  // activations and weights
  std::vector<memory::desc> value_md;
  std::vector<size_t> value_bytes;
  Kernel input_reorder;
  std::vector<Kernel> kernels;
  memory user_input, user_logits;  // wrap the caller's tensors; handles set per run
  std::unique_ptr<std::byte, decltype(&std::free)> scratchpad{nullptr, &std::free};
  size_t scratchpad_bytes = 0;
  ActivationLayout layout;
  int64_t weight_reorders = 0;
  size_t weight_bytes = 0;

  Impl(const infer::Program& p, Precision precision, ActivationLayout l)
      : program(p), act_type(precision == Precision::bf16 ? dt::bf16 : dt::f32), layout(l) {}

  // What a primitive may pick for a new activation: anything, or NHWC under the channels_last policy.
  memory::desc any_md(const Shape& nhwc) const {
    return memory::desc(logical(nhwc), act_type, layout == ActivationLayout::chosen ? tag::any : tag::acdb);
  }
  // The layout value v already has, or `any` when nothing decided it yet.
  memory::desc value_or_any(int v, const Shape& nhwc) const {
    const memory::desc& md = value_md[static_cast<size_t>(v)];
    return md.get_ndims() > 0 ? md : any_md(nhwc);
  }
  void decide(int v, const memory::desc& md) { value_md[static_cast<size_t>(v)] = md; }

  Kernel conv(size_t i, const Step& step, const StepGeometry& g) {
    const infer::Window& w = g.window;
    const memory::desc dst = step.accumulate ? value_md[static_cast<size_t>(step.dst)] : any_md(g.dst);
    const memory::desc bias = memory::desc({g.dst[3]}, dt::f32, tag::x);
    auto pd = dnnl::convolution_forward::primitive_desc(
        cpu_engine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        value_or_any(step.src, g.src), conv_weight_md(step.weight, w.groups, act_type, true), bias, dst,
        {w.stride_h, w.stride_w}, {w.dilation_h - 1, w.dilation_w - 1}, {w.pad_h, w.pad_w},
        {g.pad_bottom, g.pad_right}, step_attr(step));
    Kernel k{.name = step.name,
             .what = "conv",
             .pd = pd,
             .primitive = dnnl::convolution_forward(pd),
             .step = i,
             .weight = &step.weight,
             .weight_plain = conv_weight_md(step.weight, w.groups, dt::f32, false)};
    k.bias = wrap(step.bias, bias);
    decide(step.src, pd.src_desc());
    decide(step.dst, pd.dst_desc());
    return k;
  }

  Kernel pool(const Step& step, const StepGeometry& g) {
    const infer::Window& w = g.window;
    const bool max = step.kind == StepKind::max_pool;
    auto pd = dnnl::pooling_forward::primitive_desc(
        cpu_engine(), dnnl::prop_kind::forward_inference,
        max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding,
        value_md[static_cast<size_t>(step.src)], any_md(g.dst), {w.stride_h, w.stride_w},
        {w.kernel_h, w.kernel_w}, {0, 0}, {w.pad_h, w.pad_w}, {g.pad_bottom, g.pad_right}, step_attr(step));
    decide(step.dst, pd.dst_desc());
    return {.name = step.name,
            .what = max ? "max_pool" : "avg_pool",
            .pd = pd,
            .primitive = dnnl::pooling_forward(pd)};
  }

  // The classifier writes f32 logits [N, classes] straight into the caller's tensor.
  Kernel linear(size_t i, const Step& step, const StepGeometry& g) {
    const int64_t out = step.weight.dim(0);
    const memory::desc bias = step.bias.defined() ? memory::desc({out}, dt::f32, tag::x) : memory::desc();
    const memory::desc dst({g.dst[0], out}, dt::f32, tag::nc);
    auto pd = dnnl::inner_product_forward::primitive_desc(
        cpu_engine(), dnnl::prop_kind::forward_inference, value_md[static_cast<size_t>(step.src)],
        linear_weight_md(step.weight, act_type, true), bias, dst, step_attr(step));
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

PlanKernels::PlanKernels(const infer::Program& program, const infer::ShapedProgram& shaped,
                         Precision precision, ActivationLayout layout)
    : impl_(std::make_unique<Impl>(program, precision, layout)) {
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
        m.decide(step.src, memory::desc(logical(g.src), m.act_type, g.src.size() == 4 ? tag::nhwc : tag::nc));
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
    auto reorder_pd =
        dnnl::reorder::primitive_desc(cpu_engine(), user_md, cpu_engine(), input_md, default_attr());
    m.input_reorder = {
        .name = "input", .what = "reorder", .pd = reorder_pd, .primitive = dnnl::reorder(reorder_pd)};
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
    if (m.scratchpad_bytes > 0 && m.scratchpad == nullptr) {
      const size_t rounded = (m.scratchpad_bytes + 63) / 64 * 64;
      m.scratchpad.reset(static_cast<std::byte*>(std::aligned_alloc(64, rounded)));
      if (m.scratchpad == nullptr) throw std::bad_alloc();
    }
    std::vector<memory> values(m.value_md.size());
    for (size_t v = 0; v < values.size(); ++v) {
      values[v] = static_cast<int>(v) == m.program.output
                      ? m.user_logits
                      : memory(m.value_md[v], cpu_engine(), arena + offsets[v]);
    }
    auto bind_kernel = [&](Kernel& k, int src_arg, memory src) {
      k.args.clear();
      k.args.emplace(src_arg, std::move(src));
      k.args.emplace(k.what == "reorder" ? DNNL_ARG_TO : DNNL_ARG_DST, values[static_cast<size_t>(k.dst)]);
      if (k.weights) k.args.emplace(DNNL_ARG_WEIGHTS, k.weights);
      if (k.bias) k.args.emplace(DNNL_ARG_BIAS, k.bias);
      const memory::desc scratch = k.pd.scratchpad_desc();
      if (scratch.get_size() > 0)
        k.args.emplace(DNNL_ARG_SCRATCHPAD, memory(scratch, cpu_engine(), m.scratchpad.get()));
    };
    bind_kernel(m.input_reorder, DNNL_ARG_FROM, m.user_input);
    for (Kernel& k : m.kernels) bind_kernel(k, DNNL_ARG_SRC, values[static_cast<size_t>(k.src)]);
  });
}

void PlanKernels::run(const float* x, float* logits) {
  translate_errors("inference plan", [&] {
    Impl& m = *impl_;
    if (m.input_reorder.args.empty()) throw InternalError("inference plan: run before bind");
    m.user_input.set_data_handle(const_cast<float*>(x));
    m.user_logits.set_data_handle(logits);
    dnnl::stream& stream = cpu_stream();
    m.input_reorder.primitive.execute(stream, m.input_reorder.args);
    for (const Kernel& k : m.kernels) k.primitive.execute(stream, k.args);
    stream.wait();
  });
}

int64_t PlanKernels::primitives() const {
  return static_cast<int64_t>(impl_->kernels.size()) + 1;
}
int64_t PlanKernels::weight_reorders() const {
  return impl_->weight_reorders;
}
size_t PlanKernels::weight_bytes() const {
  return impl_->weight_bytes;
}
size_t PlanKernels::scratchpad_bytes() const {
  return impl_->scratchpad_bytes;
}

std::string PlanKernels::describe_step(size_t i) const {
  const Kernel& k = impl_->kernels.at(i);
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

}  // namespace resnet::onednn
