#include "infer/onednn/plan_winograd.h"

#include <fmt/format.h>

#include <limits>

#include "dnnl/engine.h"
#include "resnet/error.h"

namespace resnet::infer {

// The oneDNN helpers of src/dnnl/.
using onednn::cpu_engine;
using onednn::default_attr;

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;
using winograd::kBlock;
using winograd::kPoints;

// The images of one matmul: the divisor g of the batch with the least memory traffic, counting U read once
// per group and, when a group's V and M outgrow kCacheBudget, V and M written and read back from memory.
// Measured layer by layer at batch 32 (2 threads, Zen 4): 56x56x64 is fastest with groups of 1-2 images,
// 28x28x128 of 4, 14x14x256 of 4-8, 7x7x512 (U = 38 MB) of 32. In the whole ResNet-50 the choice matters
// less: budgets from 4 MB to the whole batch gave medians within 4% of each other (1097-1140 ms per batch).
int64_t choose_group(const winograd::Geometry& image, int64_t batch) {
  constexpr double kCacheBudget = 8.0 * 1024 * 1024;
  const double u_bytes = 4.0 * kPoints * image.in_channels * image.out_channels;
  const double vm_bytes = 4.0 * kPoints * image.tiles() * (image.in_channels + image.out_channels);
  int64_t best = 1;
  double best_cost = std::numeric_limits<double>::infinity();
  for (int64_t g = 1; g <= batch; ++g) {
    if (batch % g != 0) continue;
    const double groups = static_cast<double>(batch / g);
    const bool spills = vm_bytes * static_cast<double>(g) > kCacheBudget;
    const double cost = groups * u_bytes + (spills ? 2.0 * vm_bytes * static_cast<double>(batch) : 0.0);
    if (cost <= best_cost) {
      best = g;
      best_cost = cost;
    }
  }
  return best;
}

}  // namespace

bool WinogradConv::applies(const Step& step, const StepGeometry& g) {
  const Window& w = g.window;
  const bool shape_fits = step.kind == StepKind::conv && w.kernel_h == 3 && w.kernel_w == 3 &&
                          w.stride_h == 1 && w.stride_w == 1 && w.pad_h == 1 && w.pad_w == 1 &&
                          g.pad_bottom == 1 && g.pad_right == 1 && w.dilation_h == 1 && w.dilation_w == 1 &&
                          w.groups == 1 && g.src[3] % kBlock == 0 && g.dst[3] % kBlock == 0 &&
                          step.bias.defined();
  // U is 4x the direct weight and is read once per pass: with a handful of tiles in the whole batch
  // (ResNet-50's 7x7 stage at batch 1: 4 tiles) that read costs more than the multiplies saved.
  constexpr int64_t kMinTiles = 8;
  const winograd::Geometry batch{.n = g.src[0], .height = g.src[1], .width = g.src[2]};
  return shape_fits && batch.tiles() >= kMinTiles;
}

WinogradConv::WinogradConv(const Step& step, const StepGeometry& g) : step_(step) {
  if (!applies(step, g)) throw InternalError(fmt::format("{}: not a Winograd convolution", step.name));
  batch_ = g.src[0];
  const winograd::Geometry image{
      .n = 1, .in_channels = g.src[3], .out_channels = g.dst[3], .height = g.src[1], .width = g.src[2]};
  group_ = image;
  group_.n = choose_group(image, batch_);

  const int64_t c = group_.in_channels, k = group_.out_channels, tiles = group_.tiles();
  u_plain_ = Tensor::empty({kPoints, c, k});
  winograd::transform_weights(step.weight.f32(), k, c, u_plain_.f32());
  pd_ = dnnl::matmul::primitive_desc(cpu_engine(), memory::desc({kPoints, tiles, c}, dt::f32, tag::abc),
                                     memory::desc({kPoints, c, k}, dt::f32, tag::any),
                                     memory::desc({kPoints, tiles, k}, dt::f32, tag::abc), default_attr());
  matmul_ = dnnl::matmul(pd_);
}

WinogradConv::WinogradConv(const WinogradConv& other)
    : step_(other.step_),
      group_(other.group_),
      batch_(other.batch_),
      u_plain_(other.u_plain_),
      pd_(other.pd_),
      matmul_(other.matmul_) {}

memory::desc WinogradConv::plain_weights_md() const {
  return memory::desc({kPoints, group_.in_channels, group_.out_channels}, dt::f32, tag::abc);
}

size_t WinogradConv::buffer_bytes() const {
  return pd_.src_desc().get_size() + pd_.dst_desc().get_size();
}

void WinogradConv::bind(std::byte* buffer, const memory& weights, std::byte* scratchpad) {
  v_ = memory(pd_.src_desc(), cpu_engine(), buffer);
  m_ = memory(pd_.dst_desc(), cpu_engine(), buffer + pd_.src_desc().get_size());
  args_ = {{DNNL_ARG_SRC, v_}, {DNNL_ARG_WEIGHTS, weights}, {DNNL_ARG_DST, m_}};
  if (pd_.scratchpad_desc().get_size() > 0)
    args_.emplace(DNNL_ARG_SCRATCHPAD, memory(pd_.scratchpad_desc(), cpu_engine(), scratchpad));
}

void WinogradConv::execute(dnnl::stream& stream, const float* src, float* dst) const {
  const int64_t image_in = group_.in_channels * group_.height * group_.width;
  const int64_t image_out = group_.out_channels * group_.height * group_.width;
  float* v = static_cast<float*>(v_.get_data_handle());
  const float* m = static_cast<const float*>(m_.get_data_handle());
  for (int64_t n = 0; n < batch_; n += group_.n) {
    winograd::transform_input(group_, src + n * image_in, v);
    matmul_.execute(stream, args_);
    winograd::transform_output(group_, m, step_.bias.f32(), step_.accumulate, step_.relu,
                               dst + n * image_out);
  }
}

std::string WinogradConv::describe() const {
  return fmt::format("winograd F(4x4,3x3), {} image(s) per matmul {}x{}x{}x{}", group_.n, kPoints,
                     group_.tiles(), group_.in_channels, group_.out_channels);
}

}  // namespace resnet::infer
