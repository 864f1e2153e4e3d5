#include "nn/conv2d.h"

#include <fmt/format.h>

#include "dnnl/ops.h"
#include "nn/backward.h"
#include "resnet/error.h"

namespace resnet {

Conv2d::Conv2d(std::string path, const Conv2dOptions& options)
    : Module(std::move(path), "Conv2d"), options_(options) {
  const Window& win = options.window;
  if (options.in_channels % win.groups != 0 || options.out_channels % win.groups != 0) {
    throw InputError(fmt::format("{}: channels {} -> {} are not divisible by groups={}", this->path(),
                                 options.in_channels, options.out_channels, win.groups));
  }
  Shape w_shape = {options.out_channels, options.in_channels / win.groups, win.kernel_h, win.kernel_w};
  weight_ = &add_parameter("weight", Tensor(w_shape), false);
  if (options.bias) bias_ = &add_parameter("bias", Tensor({options.out_channels}), true);
}

// x [N,H,W,in] -> [N,OH,OW,out]
Tensor Conv2d::forward(const Tensor& x) {
  if (x.rank() != 4 || x.dim(3) != options_.in_channels) {
    throw InputError(fmt::format("{}: expected input [N,H,W,{}] (NHWC), got {}", path(), options_.in_channels,
                                 shape_str(x.shape())));
  }
  Tensor y = ops::conv2d_forward(x, weight_->value, bias_ ? bias_->value : Tensor(), options_.window);
  saved_input_ = keeps_for_backward() ? x : Tensor();
  notify_forward(x, y);
  return y;
}

// dy [N,OH,OW,out] -> dx [N,H,W,in]
Tensor Conv2d::backward(const Tensor& dy) {
  require_saved(*this, saved_input_.defined());
  const Tensor x = std::move(saved_input_);
  ops::conv2d_backward_weights(x, dy, options_.window, grad_to_accumulate(*weight_),
                               bias_ ? &grad_to_accumulate(*bias_) : nullptr);
  notify_gradients_ready();
  if (!input_gradient_) return Tensor();
  return ops::conv2d_backward_data(dy, weight_->value, x.shape(), options_.window);
}

// PyTorch's Conv2d.extra_repr: sizes as (h, w) pairs; padding, dilation and groups only when not the default.
std::string Conv2d::extra_repr() const {
  const Window& w = options_.window;
  std::string s = fmt::format("{}, {}, kernel_size=({}, {}), stride=({}, {})", options_.in_channels,
                              options_.out_channels, w.kernel_h, w.kernel_w, w.stride_h, w.stride_w);
  if (w.pad_h != 0 || w.pad_w != 0) s += fmt::format(", padding=({}, {})", w.pad_h, w.pad_w);
  if (w.dilation_h != 1 || w.dilation_w != 1)
    s += fmt::format(", dilation=({}, {})", w.dilation_h, w.dilation_w);
  if (w.groups != 1) s += fmt::format(", groups={}", w.groups);
  if (!options_.bias) s += ", bias=False";
  return s;
}

// One MAC per weight element per output position.
int64_t Conv2d::macs(const Shape& /*in*/, const Shape& out) const {
  const Window& w = options_.window;
  return shape_numel(out) * (options_.in_channels / w.groups) * w.kernel_h * w.kernel_w;
}

}  // namespace resnet
