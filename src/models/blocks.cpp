#include "models/blocks.h"

#include <fmt/format.h>

#include "dnnl/ops.h"
#include "models/zero_pad_shortcut.h"
#include "resnet/error.h"

namespace resnet {
namespace {

Conv2dOptions conv3x3(int64_t in, int64_t out, int64_t stride = 1, int64_t groups = 1, int64_t dilation = 1) {
  return {.in_channels = in,
          .out_channels = out,
          .kernel = 3,
          .stride = stride,
          .padding = dilation,
          .dilation = dilation,
          .groups = groups};
}

Conv2dOptions conv1x1(int64_t in, int64_t out, int64_t stride = 1) {
  return {.in_channels = in, .out_channels = out, .kernel = 1, .stride = stride};
}

}  // namespace

void ResidualBlock::add_shortcut_and_dropout(const BlockOptions& o, int64_t out_channels) {
  if (o.reshape_shortcut && o.shortcut == Shortcut::projection) {
    auto& downsample = add_child<Sequential>("downsample");
    downsample.append<Conv2d>(conv1x1(o.inplanes, out_channels, o.stride));
    downsample.append<BatchNorm2d>(out_channels);
    shortcut_ = &downsample;
  }
  if (o.reshape_shortcut && o.shortcut == Shortcut::zero_pad) {
    shortcut_ = &add_child<ZeroPadShortcut>("shortcut", o.inplanes, out_channels, o.stride);
  }
  if (o.dropout > 0.0f) dropout_ = &add_child<Dropout>("dropout", o.dropout, true, o.seed);
}

Tensor ResidualBlock::forward(const Tensor& x) {
  Tensor out = branch_forward(x);
  if (dropout_) out = dropout_->forward(out);
  Tensor identity = shortcut_ ? shortcut_->forward(x) : x;
  if (identity.shape() != out.shape()) {
    throw InputError(fmt::format("{}: residual branch gives {} but the shortcut gives {}", path(),
                                 shape_str(out.shape()), shape_str(identity.shape())));
  }
  return relu_->forward(ops::add(out, identity));
}

// The residual join out = relu(branch(x) + shortcut(x)) sends relu's gradient down both paths, and x's
// gradient is the sum of the two.
Tensor ResidualBlock::backward(const Tensor& dy) {
  const Tensor d = relu_->backward(dy);
  Tensor dx = branch_backward(dropout_ ? dropout_->backward(d) : d);
  ops::add_to(dx, shortcut_ ? shortcut_->backward(d) : d);
  return dx;
}

BasicBlock::BasicBlock(std::string path, const BlockOptions& o)
    : ResidualBlock(std::move(path), "BasicBlock") {
  if (o.groups != 1 || o.base_width != 64) {
    throw InputError(fmt::format("{}: BasicBlock only supports groups=1 and base_width=64", this->path()));
  }
  if (o.dilation > 1)
    throw InputError(fmt::format("{}: dilation > 1 not supported in BasicBlock", this->path()));
  conv1_ = &add_child<Conv2d>("conv1", conv3x3(o.inplanes, o.planes, o.stride));
  bn1_ = &add_child<BatchNorm2d>("bn1", o.planes);
  relu_ = &add_child<ReLU>("relu");
  conv2_ = &add_child<Conv2d>("conv2", conv3x3(o.planes, o.planes));
  bn2_ = &add_child<BatchNorm2d>("bn2", o.planes);
  add_shortcut_and_dropout(o, o.planes * kExpansion);
  relu1_ = std::make_unique<ReLU>(relu_->path());
}

Tensor BasicBlock::branch_forward(const Tensor& x) {
  relu1_->copy_mode_from(*this);
  Tensor out = relu1_->forward(bn1_->forward(conv1_->forward(x)));
  return bn2_->forward(conv2_->forward(out));
}

Tensor BasicBlock::branch_backward(const Tensor& dy) {
  Tensor d = conv2_->backward(bn2_->backward(dy));
  return conv1_->backward(bn1_->backward(relu1_->backward(d)));
}

Bottleneck::Bottleneck(std::string path, const BlockOptions& o)
    : ResidualBlock(std::move(path), "Bottleneck") {
  const int64_t width = static_cast<int64_t>(o.planes * (o.base_width / 64.0)) * o.groups;
  conv1_ = &add_child<Conv2d>("conv1", conv1x1(o.inplanes, width));
  bn1_ = &add_child<BatchNorm2d>("bn1", width);
  conv2_ = &add_child<Conv2d>("conv2", conv3x3(width, width, o.stride, o.groups, o.dilation));
  bn2_ = &add_child<BatchNorm2d>("bn2", width);
  conv3_ = &add_child<Conv2d>("conv3", conv1x1(width, o.planes * kExpansion));
  bn3_ = &add_child<BatchNorm2d>("bn3", o.planes * kExpansion);
  relu_ = &add_child<ReLU>("relu");
  add_shortcut_and_dropout(o, o.planes * kExpansion);
  relu1_ = std::make_unique<ReLU>(relu_->path());
  relu2_ = std::make_unique<ReLU>(relu_->path());
}

Tensor Bottleneck::branch_forward(const Tensor& x) {
  relu1_->copy_mode_from(*this);
  relu2_->copy_mode_from(*this);
  Tensor out = relu1_->forward(bn1_->forward(conv1_->forward(x)));
  out = relu2_->forward(bn2_->forward(conv2_->forward(out)));
  return bn3_->forward(conv3_->forward(out));
}

Tensor Bottleneck::branch_backward(const Tensor& dy) {
  Tensor d = conv3_->backward(bn3_->backward(dy));
  d = conv2_->backward(bn2_->backward(relu2_->backward(d)));
  return conv1_->backward(bn1_->backward(relu1_->backward(d)));
}

}  // namespace resnet
