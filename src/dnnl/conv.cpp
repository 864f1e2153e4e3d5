// conv2d_forward on oneDNN: NHWC activations used in place, weights reordered from OIHW into the layout the
// convolution chose (format_tag::any) on every call, so updated weights are always seen.
#include <fmt/format.h>

#include <algorithm>

#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/ops.h"
#include "dnnl/primitive_cache.h"
#include "resnet/error.h"

namespace resnet::ops {
namespace {

using dnnl::memory;
using tag = memory::format_tag;

// Floor division that is also right for a negative numerator.
int64_t floor_div(int64_t a, int64_t b) {
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// oneDNN wants (in - kernel_extent + pad_l + pad_r) / stride + 1 == out exactly. pad_r = pad satisfies it,
// but the tightest pad_r (the padding the last window really reaches into, never negative) avoids computing
// on padding.
int64_t right_padding(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation,
                      int64_t out) {
  int64_t extent = dilation * (kernel - 1) + 1;
  return std::max<int64_t>(0, (out - 1) * stride + extent - in - pad);
}

void check_conv_args(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dSpec& s) {
  if (x.rank() != 4 || x.dtype() != DType::f32) {
    throw InputError(fmt::format("conv2d: input must be f32 [N,H,W,C], got {} {}", dtype_name(x.dtype()),
                                 shape_str(x.shape())));
  }
  if (w.rank() != 4 || w.dtype() != DType::f32) {
    throw InputError(fmt::format("conv2d: weight must be f32 [O,I/groups,KH,KW], got {} {}",
                                 dtype_name(w.dtype()), shape_str(w.shape())));
  }
  if (s.groups < 1 || s.stride_h < 1 || s.stride_w < 1 || s.dilation_h < 1 || s.dilation_w < 1 ||
      s.pad_h < 0 || s.pad_w < 0) {
    throw InputError(fmt::format("conv2d: invalid spec stride=({},{}) pad=({},{}) dilation=({},{}) groups={}",
                                 s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h, s.dilation_w,
                                 s.groups));
  }
  if (x.dim(3) != w.dim(1) * s.groups || w.dim(0) % s.groups != 0) {
    throw InputError(fmt::format("conv2d: input {} does not match weight {} with groups={}",
                                 shape_str(x.shape()), shape_str(w.shape()), s.groups));
  }
  if (bias.defined() && (bias.rank() != 1 || bias.dim(0) != w.dim(0) || bias.dtype() != DType::f32)) {
    throw InputError(fmt::format("conv2d: bias must be f32 [{}], got {} {}", w.dim(0),
                                 dtype_name(bias.dtype()), shape_str(bias.shape())));
  }
}

}  // namespace

int64_t conv_output_size(int64_t in, int64_t kernel, int64_t stride, int64_t pad, int64_t dilation) {
  return floor_div(in + 2 * pad - dilation * (kernel - 1) - 1, stride) + 1;
}

// x [N,H,W,C], w [O,C/g,KH,KW], bias [O] or undefined -> y [N,OH,OW,O]
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Conv2dSpec& s) {
  check_conv_args(x, w, bias, s);
  const int64_t n = x.dim(0), h = x.dim(1), wd = x.dim(2), c = x.dim(3);
  const int64_t o = w.dim(0), kh = w.dim(2), kw = w.dim(3), g = s.groups;
  const int64_t oh = conv_output_size(h, kh, s.stride_h, s.pad_h, s.dilation_h);
  const int64_t ow = conv_output_size(wd, kw, s.stride_w, s.pad_w, s.dilation_w);
  if (oh < 1 || ow < 1) {
    throw InputError(fmt::format("conv2d: input {} is too small for kernel {}x{} (pad {}x{}, dilation {}x{})",
                                 shape_str(x.shape()), kh, kw, s.pad_h, s.pad_w, s.dilation_h, s.dilation_w));
  }
  Tensor y({n, oh, ow, o});

  return onednn::translate_errors("conv2d", [&] {
    const memory::dims strides = {s.stride_h, s.stride_w};
    const memory::dims dilates = {s.dilation_h - 1, s.dilation_w - 1};  // oneDNN: 0 = dense
    const memory::dims pad_l = {s.pad_h, s.pad_w};
    const memory::dims pad_r = {right_padding(h, kh, s.stride_h, s.pad_h, s.dilation_h, oh),
                                right_padding(wd, kw, s.stride_w, s.pad_w, s.dilation_w, ow)};
    // Grouped weights are 5-D goihw [G, O/G, I/G, KH, KW] for oneDNN: the same bytes as OIHW.
    const memory::desc w_plain =
        g > 1 ? memory::desc({g, o / g, c / g, kh, kw}, memory::data_type::f32, tag::goihw)
              : memory::desc({o, c, kh, kw}, memory::data_type::f32, tag::oihw);
    const memory::desc x_md = onednn::desc_of(x.shape(), DType::f32, tag::nhwc);
    const memory::desc y_md = onednn::desc_of(y.shape(), DType::f32, tag::nhwc);
    const memory::desc b_md =
        bias.defined() ? onednn::desc_of(bias.shape(), DType::f32, tag::x) : memory::desc();

    const std::string key =
        fmt::format("conv2d|src={}|w={}|bias={}|s={}|pl={}|pr={}|d={}", onednn::dims_key(x_md.get_dims()),
                    onednn::dims_key(w_plain.get_dims()), bias.defined(), onednn::dims_key(strides),
                    onednn::dims_key(pad_l), onednn::dims_key(pad_r), onednn::dims_key(dilates));
    onednn::CachedPrimitive conv = onednn::primitive_cache().get_or_create(key, [&] {
      memory::desc w_any(w_plain.get_dims(), memory::data_type::f32, tag::any);
      return dnnl::convolution_forward::primitive_desc(
          onednn::cpu_engine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, x_md,
          w_any, b_md, y_md, strides, dilates, pad_l, pad_r, onednn::default_attr());
    });

    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, onednn::wrap(x, x_md)},
        {DNNL_ARG_WEIGHTS,
         onednn::in_layout(w, w_plain, conv.pd.weights_desc(), key, onednn::ThreadBuffer::weights)},
        {DNNL_ARG_DST, onednn::wrap(y, y_md)},
    };
    if (bias.defined()) args.emplace(DNNL_ARG_BIAS, onednn::wrap(bias, b_md));
    onednn::execute(conv, std::move(args));
    return y;
  });
}

}  // namespace resnet::ops
