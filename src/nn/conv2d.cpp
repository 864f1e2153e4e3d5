#include "nn/conv2d.h"

#include <fmt/format.h>

#include "nn/backward.h"
#include "resnet/error.h"

namespace resnet {

Conv2d::Conv2d(std::string path, const Conv2dOptions& options)
    : Module(std::move(path), "Conv2d"), options_(options) {
  if (options.in_channels % options.groups != 0 || options.out_channels % options.groups != 0) {
    throw InputError(fmt::format("{}: channels {} -> {} are not divisible by groups={}", this->path(),
                                 options.in_channels, options.out_channels, options.groups));
  }
  Shape w_shape = {options.out_channels, options.in_channels / options.groups, options.kernel,
                   options.kernel};
  weight_ = &add_parameter("weight", Tensor(w_shape), false);
  if (options.bias) bias_ = &add_parameter("bias", Tensor({options.out_channels}), true);
}

ops::Conv2dSpec Conv2d::spec() const {
  ops::Conv2dSpec s;
  s.stride_h = s.stride_w = options_.stride;
  s.pad_h = s.pad_w = options_.padding;
  s.dilation_h = s.dilation_w = options_.dilation;
  s.groups = options_.groups;
  return s;
}

// x [N,H,W,in] -> [N,OH,OW,out]
Tensor Conv2d::forward(const Tensor& x) {
  if (x.rank() != 4 || x.dim(3) != options_.in_channels) {
    throw InputError(fmt::format("{}: expected input [N,H,W,{}] (NHWC), got {}", path(), options_.in_channels,
                                 shape_str(x.shape())));
  }
  Tensor y = ops::conv2d_forward(x, weight_->value, bias_ ? bias_->value : Tensor(), spec());
  saved_input_ = keeps_for_backward() ? x : Tensor();
  notify_forward(x, y);
  return y;
}

// dy [N,OH,OW,out] -> dx [N,H,W,in]
Tensor Conv2d::backward(const Tensor& dy) {
  require_saved(*this, saved_input_.defined());
  const Tensor x = std::move(saved_input_);
  ops::conv2d_backward_weights(x, dy, spec(), grad_to_accumulate(*weight_),
                               bias_ ? &grad_to_accumulate(*bias_) : nullptr);
  return ops::conv2d_backward_data(dy, weight_->value, x.shape(), spec());
}

std::string Conv2d::extra_repr() const {
  const auto& o = options_;
  std::string s = fmt::format("{}, {}, kernel_size=({}, {}), stride=({}, {})", o.in_channels, o.out_channels,
                              o.kernel, o.kernel, o.stride, o.stride);
  if (o.padding != 0) s += fmt::format(", padding=({}, {})", o.padding, o.padding);
  if (o.dilation != 1) s += fmt::format(", dilation=({}, {})", o.dilation, o.dilation);
  if (o.groups != 1) s += fmt::format(", groups={}", o.groups);
  if (!o.bias) s += ", bias=False";
  return s;
}

// One MAC per weight element per output position.
int64_t Conv2d::macs(const Shape& /*in*/, const Shape& out) const {
  return shape_numel(out) * (options_.in_channels / options_.groups) * options_.kernel * options_.kernel;
}

}  // namespace resnet
