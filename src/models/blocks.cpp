#include "models/blocks.h"

#include <fmt/format.h>

#include "dnnl/ops.h"
#include "resnet/error.h"

namespace resnet {
namespace {

Conv2dOptions conv3x3(int64_t in, int64_t out, int64_t stride = 1, int64_t groups = 1, int64_t dilation = 1) {
  return {.in_channels = in,
          .out_channels = out,
          .window = Window::square(3, stride, /*padding=*/dilation, dilation, groups)};
}

Conv2dOptions conv1x1(int64_t in, int64_t out, int64_t stride = 1) {
  return {.in_channels = in, .out_channels = out, .window = Window::square(1, stride)};
}

// conv [-> bn] [-> relu]; `activation` receives the ReLU's output in train mode (undefined otherwise). In
// training, bn -> relu runs as one pass (BatchNorm2d::forward_relu), which keeps the ReLU's mask in the batch
// norm, and `activation` stays undefined.
Tensor stage_forward(const BranchStage& stage, const Tensor& x, Tensor& activation) {
  Tensor y = stage.conv->forward(x);
  if (stage.bn && stage.relu && stage.bn->fuses_relu()) {
    activation = Tensor();
    return stage.bn->forward_relu(y);
  }
  if (stage.bn) y = stage.bn->forward(y);
  if (!stage.relu) return y;
  return stage.relu->forward(y, activation);
}

// fused: the forward ran bn -> relu as one pass (the batch norm's backward takes the ReLU output's gradient).
Tensor stage_backward(const BranchStage& stage, const Tensor& dy, Tensor activation) {
  const bool fused = stage.bn && stage.relu && stage.bn->holds_relu_mask();
  Tensor d = stage.relu && !fused ? stage.relu->backward(dy, std::move(activation)) : dy;
  if (stage.bn) d = stage.bn->backward(d);
  return stage.conv->backward(d);
}

}  // namespace

void ResidualBlock::add_shortcut_and_dropout(const BlockOptions& o, int64_t out_channels) {
  if (o.shortcut == Shortcut::none) structure_.shortcut = ShortcutKind::none;
  if (o.reshape_shortcut && o.shortcut == Shortcut::projection) {
    auto& downsample = add_child<Sequential>("downsample");
    downsample.append<Conv2d>(conv1x1(o.inplanes, out_channels, o.stride));
    downsample.append<BatchNorm2d>(out_channels);
    structure_.shortcut = ShortcutKind::projection;
    structure_.downsample = &downsample;
  }
  if (o.reshape_shortcut && o.shortcut == Shortcut::zero_pad) {
    structure_.shortcut = ShortcutKind::zero_pad;
    structure_.zero_pad = &add_child<ZeroPadShortcut>("shortcut", o.inplanes, out_channels, o.stride);
  }
  if (o.dropout > 0.0f) structure_.dropout = &add_child<Dropout>("dropout", o.dropout, true, o.seed);
}

Tensor ResidualBlock::forward(const Tensor& x) {
  const BlockStructure& s = structure_;
  stage_activations_.assign(s.branch.size(), Tensor());
  Tensor out = x;
  for (size_t i = 0; i < s.branch.size(); ++i) out = stage_forward(s.branch[i], out, stage_activations_[i]);
  if (s.dropout) out = s.dropout->forward(out);
  if (s.shortcut == ShortcutKind::none) return s.output_relu ? s.output_relu->forward(out) : out;
  Module* shortcut = s.shortcut_module();
  Tensor identity = shortcut ? shortcut->forward(x) : x;
  if (identity.shape() != out.shape()) {
    throw InputError(fmt::format("{}: residual branch gives {} but the shortcut gives {}", path(),
                                 shape_str(out.shape()), shape_str(identity.shape())));
  }
  return s.output_relu ? s.output_relu->forward_sum(out, identity) : ops::add(out, identity);
}

// The residual join out = relu(branch(x) + shortcut(x)) sends relu's gradient down both paths, and x's
// gradient is the sum of the two.
Tensor ResidualBlock::backward(const Tensor& dy) {
  Tensor shortcut_part;
  Tensor dx = backward_parts(dy, Tensor(), shortcut_part);
  sum_parts(dx, shortcut_part);
  return dx;
}

Tensor ResidualBlock::backward_parts(Tensor a, Tensor b, Tensor& other) {
  const BlockStructure& s = structure_;
  Tensor d = std::move(a);
  if (s.output_relu) {
    d = s.output_relu->backward_sum(std::move(d), std::move(b));
  } else {
    sum_parts(d, b);
  }
  Tensor dx = s.dropout ? s.dropout->backward(d) : d;
  stage_activations_.resize(s.branch.size());  // without a train-mode forward: a ReLU finds nothing saved
  for (size_t i = s.branch.size(); i-- > 0;) {
    dx = stage_backward(s.branch[i], dx, std::move(stage_activations_[i]));
  }
  Module* shortcut = s.shortcut_module();
  other = s.shortcut == ShortcutKind::none ? Tensor() : shortcut ? shortcut->backward(d) : d;
  return dx;
}

BatchNorm2d& ResidualBlock::last_bn() {
  if (structure_.branch.empty() || structure_.branch.back().bn == nullptr) {
    throw InternalError(fmt::format("{}: the residual branch does not end with a batch norm", path()));
  }
  return *structure_.branch.back().bn;
}

BasicBlock::BasicBlock(std::string path, const BlockOptions& o)
    : ResidualBlock(std::move(path), "BasicBlock") {
  if (o.groups != 1 || o.base_width != 64) {
    throw InputError(fmt::format("{}: BasicBlock only supports groups=1 and base_width=64", this->path()));
  }
  if (o.dilation > 1)
    throw InputError(fmt::format("{}: dilation > 1 not supported in BasicBlock", this->path()));
  auto& conv1 = add_child<Conv2d>("conv1", conv3x3(o.inplanes, o.planes, o.stride));
  auto& bn1 = add_child<BatchNorm2d>("bn1", o.planes);
  auto& relu = add_child<ReLU>("relu");
  auto& conv2 = add_child<Conv2d>("conv2", conv3x3(o.planes, o.planes));
  auto& bn2 = add_child<BatchNorm2d>("bn2", o.planes);
  add_shortcut_and_dropout(o, o.planes * kExpansion);
  structure_.branch = {{&conv1, &bn1, &relu}, {&conv2, &bn2, nullptr}};
  structure_.output_relu = &relu;
}

Bottleneck::Bottleneck(std::string path, const BlockOptions& o)
    : ResidualBlock(std::move(path), "Bottleneck") {
  const int64_t width = static_cast<int64_t>(o.planes * (o.base_width / 64.0)) * o.groups;
  auto& conv1 = add_child<Conv2d>("conv1", conv1x1(o.inplanes, width));
  auto& bn1 = add_child<BatchNorm2d>("bn1", width);
  auto& conv2 = add_child<Conv2d>("conv2", conv3x3(width, width, o.stride, o.groups, o.dilation));
  auto& bn2 = add_child<BatchNorm2d>("bn2", width);
  auto& conv3 = add_child<Conv2d>("conv3", conv1x1(width, o.planes * kExpansion));
  auto& bn3 = add_child<BatchNorm2d>("bn3", o.planes * kExpansion);
  auto& relu = add_child<ReLU>("relu");
  add_shortcut_and_dropout(o, o.planes * kExpansion);
  structure_.branch = {{&conv1, &bn1, &relu}, {&conv2, &bn2, &relu}, {&conv3, &bn3, nullptr}};
  structure_.output_relu = &relu;
}

}  // namespace resnet
