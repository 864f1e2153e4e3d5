// Convolution on oneDNN, forward and backward. NHWC activations are used in place; weights are reordered from
// OIHW into the layout each primitive chose (format_tag::any) on every call, so updated weights are always
// seen, and weight gradients are reordered back to OIHW while being added into the caller's gradient.
//
// Activations and their gradients are f32, or bf16 for mixed-precision training: then the f32 weights are
// converted to bf16 by that same reorder, oneDNN accumulates in f32, and weight/bias gradients come out f32.
#include <fmt/format.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dnnl/accumulate.h"
#include "dnnl/conv_phases.h"
#include "dnnl/conv_weight_matmul.h"
#include "dnnl/conv_winograd.h"
#include "dnnl/engine.h"
#include "dnnl/implementations.h"
#include "dnnl/memory.h"
#include "dnnl/ops.h"
#include "dnnl/primitive_cache.h"
#include "dnnl/training_kernel.h"
#include "resnet/error.h"

namespace resnet::ops {
namespace {

using dnnl::memory;
using tag = memory::format_tag;

void check_f32(const Tensor& t, int rank, const char* what, const char* layout) {
  if (t.rank() != rank || t.dtype() != DType::f32) {
    throw InputError(fmt::format("conv2d: {} must be f32 {}, got {} {}", what, layout, dtype_name(t.dtype()),
                                 shape_str(t.shape())));
  }
}

void check_activation(const Tensor& t, const char* what, const std::string& layout) {
  if (t.rank() != 4 || !onednn::is_activation_dtype(t.dtype())) {
    throw InputError(fmt::format("conv2d: {} must be f32 or bf16 {}, got {} {}", what, layout,
                                 dtype_name(t.dtype()), shape_str(t.shape())));
  }
}

// x [N,H,W,C], w [O,C/g,KH,KW]: returns y's shape [N,OH,OW,O].
Shape conv_output_shape(const Shape& x, const Shape& w, const Window& win) {
  if (win.groups < 1 || win.stride_h < 1 || win.stride_w < 1 || win.dilation_h < 1 || win.dilation_w < 1 ||
      win.pad_h < 0 || win.pad_w < 0) {
    throw InputError(fmt::format(
        "conv2d: invalid window stride=({},{}) pad=({},{}) dilation=({},{}) groups={}", win.stride_h,
        win.stride_w, win.pad_h, win.pad_w, win.dilation_h, win.dilation_w, win.groups));
  }
  if (w[2] != win.kernel_h || w[3] != win.kernel_w) {
    throw InputError(fmt::format("conv2d: weight {} does not match the window's {}x{} kernel", shape_str(w),
                                 win.kernel_h, win.kernel_w));
  }
  if (x[3] != w[1] * win.groups || w[0] % win.groups != 0) {
    throw InputError(fmt::format("conv2d: input {} does not match weight {} with groups={}", shape_str(x),
                                 shape_str(w), win.groups));
  }
  const int64_t oh = win.output_h(x[1]);
  const int64_t ow = win.output_w(x[2]);
  if (oh < 1 || ow < 1) {
    throw InputError(fmt::format("conv2d: input {} is too small for kernel {}x{} (pad {}x{}, dilation {}x{})",
                                 shape_str(x), w[2], w[3], win.pad_h, win.pad_w, win.dilation_h,
                                 win.dilation_w));
  }
  return {x[0], oh, ow, w[0]};
}

void check_bias(const Tensor& bias, const Shape& w, const char* what) {
  if (bias.defined() && (bias.rank() != 1 || bias.dim(0) != w[0] || bias.dtype() != DType::f32)) {
    throw InputError(fmt::format("conv2d: {} must be f32 [{}], got {} {}", what, w[0],
                                 dtype_name(bias.dtype()), shape_str(bias.shape())));
  }
}

// The descriptors of one convolution (shapes + window + activation dtype), shared by its forward and backward
// primitives, and the cache key that determines them. w_any has the activations' dtype (what the forward and
// backward-data primitives compute with); dw_any is f32 (the weight gradient, whatever the activations).
struct ConvGeometry {
  memory::desc x_md, w_plain, w_any, dw_any, b_md, y_md;
  memory::dims strides, dilates, pad_l, pad_r;
  std::string key;
};

ConvGeometry conv_geometry(const Shape& x, const Shape& w, const Shape& y, bool bias, const Window& win,
                           DType dtype) {
  ConvGeometry g;
  const int64_t groups = win.groups;
  g.strides = {win.stride_h, win.stride_w};
  g.dilates = {win.dilation_h - 1, win.dilation_w - 1};  // oneDNN: 0 = dense
  g.pad_l = {win.pad_h, win.pad_w};
  // The tightest far padding that gives y's size: no computing on padding no window reaches.
  g.pad_r = {win.pad_bottom(x[1]), win.pad_right(x[2])};
  // Grouped weights are 5-D goihw [G, O/G, I/G, KH, KW] for oneDNN: the same bytes as OIHW.
  g.w_plain =
      groups > 1 ? memory::desc({groups, w[0] / groups, w[1], w[2], w[3]}, memory::data_type::f32, tag::goihw)
                 : memory::desc({w[0], w[1], w[2], w[3]}, memory::data_type::f32, tag::oihw);
  g.w_any = memory::desc(g.w_plain.get_dims(), onednn::data_type_of(dtype), tag::any);
  g.dw_any = memory::desc(g.w_plain.get_dims(), memory::data_type::f32, tag::any);
  g.x_md = onednn::desc_of(x, dtype, tag::nhwc);
  g.y_md = onednn::desc_of(y, dtype, tag::nhwc);
  g.b_md = bias ? onednn::desc_of({w[0]}, DType::f32, tag::x) : memory::desc();
  g.key = fmt::format("src={}|{}|w={}|bias={}|s={}|pl={}|pr={}|d={}", onednn::dims_key(g.x_md.get_dims()),
                      dtype_name(dtype), onednn::dims_key(g.w_plain.get_dims()), bias,
                      onednn::dims_key(g.strides), onednn::dims_key(g.pad_l), onednn::dims_key(g.pad_r),
                      onednn::dims_key(g.dilates));
  return g;
}

dnnl::convolution_forward::primitive_desc forward_pd(const ConvGeometry& g, dnnl::prop_kind prop) {
  return dnnl::convolution_forward::primitive_desc(
      onednn::cpu_engine(), prop, dnnl::algorithm::convolution_direct, g.x_md, g.w_any, g.b_md, g.y_md,
      g.strides, g.dilates, g.pad_l, g.pad_r, onednn::default_attr());
}

// The backward passes' descriptors. hint: forward_pd(g, forward_training), which must outlive any next_impl()
// on them (oneDNN 3.2 keeps a pointer to it for the iteration).
using ForwardHint = dnnl::convolution_forward::primitive_desc;

dnnl::convolution_backward_data::primitive_desc backward_data_pd(const ConvGeometry& g,
                                                                 const ForwardHint& hint) {
  return dnnl::convolution_backward_data::primitive_desc(
      onednn::cpu_engine(), dnnl::algorithm::convolution_direct, g.x_md, g.w_any, g.y_md, g.strides,
      g.dilates, g.pad_l, g.pad_r, hint, onednn::default_attr());
}

dnnl::convolution_backward_weights::primitive_desc backward_weights_pd(const ConvGeometry& g,
                                                                       const ForwardHint& hint) {
  return dnnl::convolution_backward_weights::primitive_desc(
      onednn::cpu_engine(), dnnl::algorithm::convolution_direct, g.x_md, g.dw_any, g.b_md, g.y_md, g.strides,
      g.dilates, g.pad_l, g.pad_r, hint, onednn::default_attr());
}

// The primitive cache's key of a pass's primitive with oneDNN implementation `impl` ("" = its first choice).
std::string primitive_key(const char* pass, const ConvGeometry& g, const std::string& impl) {
  return fmt::format("{}|{}{}{}", pass, g.key, impl.empty() ? "" : "|impl=", impl);
}

// oneDNN's direct convolution, y [N,OH,OW,O] of y_shape (shape_only: y unfilled), through its implementation
// `impl` ("": oneDNN's first choice; implementations.h).
Tensor forward_direct(const Tensor& x, const Tensor& w, const Tensor& bias, const Window& win,
                      const Shape& y_shape, const std::string& impl = "") {
  Tensor y = Tensor::empty(y_shape, x.dtype());
  if (shape_only()) return y;

  return onednn::translate_errors("conv2d", [&] {
    const ConvGeometry g = conv_geometry(x.shape(), w.shape(), y.shape(), bias.defined(), win, x.dtype());
    const std::string key = primitive_key("conv2d", g, impl);
    onednn::CachedPrimitive conv = onednn::primitive_cache().get_or_create(key, [&] {
      return onednn::implementation_named(forward_pd(g, dnnl::prop_kind::forward_inference), impl, "conv2d");
    });

    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, onednn::wrap(x, g.x_md)},
        {DNNL_ARG_WEIGHTS,
         onednn::in_layout(w, g.w_plain, conv.pd.weights_desc(), key, onednn::ThreadBuffer::weights)},
        {DNNL_ARG_DST, onednn::wrap(y, g.y_md)},
    };
    if (bias.defined()) args.emplace(DNNL_ARG_BIAS, onednn::wrap(bias, g.b_md));
    onednn::execute(conv, std::move(args));
    return y;
  });
}

// oneDNN's direct backward-data: dx [N,H,W,C] of x_shape, through implementation `impl` ("": the first).
Tensor backward_data_direct(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Window& win,
                            const Shape& y_shape, const std::string& impl = "") {
  Tensor dx = Tensor::empty(x_shape, dy.dtype());

  return onednn::translate_errors("conv2d backward data", [&] {
    const ConvGeometry g = conv_geometry(x_shape, w.shape(), y_shape, false, win, dy.dtype());
    const std::string key = primitive_key("conv2d_bwd_data", g, impl);
    onednn::CachedPrimitive conv = onednn::primitive_cache().get_or_create(key, [&] {
      const ForwardHint hint = forward_pd(g, dnnl::prop_kind::forward_training);
      return onednn::implementation_named(backward_data_pd(g, hint), impl, "conv2d backward data");
    });
    onednn::execute(conv, {
                              {DNNL_ARG_DIFF_DST, onednn::wrap(dy, g.y_md)},
                              {DNNL_ARG_WEIGHTS, onednn::in_layout(w, g.w_plain, conv.pd.weights_desc(), key,
                                                                   onednn::ThreadBuffer::weights)},
                              {DNNL_ARG_DIFF_SRC, onednn::wrap(dx, g.x_md)},
                          });
    return dx;
  });
}

// oneDNN's direct backward-weights: dw += dL/dw, *dbias += dL/dbias unless null, through implementation
// `impl` ("": the first).
void backward_weights_direct(const Tensor& x, const Tensor& dy, const Window& win, Tensor& dw, Tensor* dbias,
                             const Shape& y_shape, const std::string& impl = "") {
  onednn::translate_errors("conv2d backward weights", [&] {
    const ConvGeometry g = conv_geometry(x.shape(), dw.shape(), y_shape, dbias != nullptr, win, x.dtype());
    const std::string key = primitive_key("conv2d_bwd_weights", g, impl);
    onednn::CachedPrimitive conv = onednn::primitive_cache().get_or_create(key, [&] {
      const ForwardHint hint = forward_pd(g, dnnl::prop_kind::forward_training);
      return onednn::implementation_named(backward_weights_pd(g, hint), impl, "conv2d backward weights");
    });
    onednn::run_backward_weights(conv, x, g.x_md, dy, g.y_md, g.w_plain, g.b_md, dw, dbias, key);
  });
}

}  // namespace

// x [N,H,W,C], w [O,C/g,KH,KW], bias [O] or undefined -> y [N,OH,OW,O]
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const Window& win) {
  check_activation(x, "input", "[N,H,W,C]");
  check_f32(w, 4, "weight", "[O,I/groups,KH,KW]");
  check_bias(bias, w.shape(), "bias");
  const Shape y_shape = conv_output_shape(x.shape(), w.shape(), win);
  if (shape_only()) return forward_direct(x, w, bias, win, y_shape);

  const bool may_winograd = winograd_may_train(x.shape(), w.shape(), win, x.dtype());
  const std::string rule = may_winograd && winograd_trains(x.shape(), w.shape(), win, x.dtype())
                               ? "winograd"
                               : std::string(kOneDnn);
  const std::string kernel =
      training_kernel("conv2d forward", x.shape(), w.shape(), win, x.dtype(), rule, [&] {
        PassKernels k;
        if (may_winograd)
          k.ours.push_back({"winograd", run_as_is([&] { conv2d_forward_winograd(x, w, bias); }), {}});
        k.onednn_implementations = onednn::implementation_names(
            forward_pd(conv_geometry(x.shape(), w.shape(), y_shape, bias.defined(), win, x.dtype()),
                       dnnl::prop_kind::forward_inference));
        k.onednn_run = [&](const std::string& impl) {
          return run_as_is([&, impl] { forward_direct(x, w, bias, win, y_shape, impl); });
        };
        return k;
      });
  if (kernel == "winograd") return conv2d_forward_winograd(x, w, bias);
  return forward_direct(x, w, bias, win, y_shape, implementation_of(kernel));
}

// dy [N,OH,OW,O], w [O,C/g,KH,KW] -> dx [N,H,W,C] (x_shape)
Tensor conv2d_backward_data(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Window& win) {
  check_f32(w, 4, "weight", "[O,I/groups,KH,KW]");
  if (x_shape.size() != 4)
    throw InputError(fmt::format("conv2d: input shape {} is not [N,H,W,C]", shape_str(x_shape)));
  const Shape y_shape = conv_output_shape(x_shape, w.shape(), win);
  check_activation(dy, "output gradient", shape_str(y_shape));
  if (dy.shape() != y_shape) {
    throw InputError(fmt::format("conv2d backward: output gradient {} for an output of {}",
                                 shape_str(dy.shape()), shape_str(y_shape)));
  }
  const bool may_winograd = winograd_may_train(x_shape, w.shape(), win, dy.dtype());
  const bool phases = phases_train_data(x_shape, w.shape(), win, dy.dtype());
  const std::string rule = may_winograd && winograd_trains(x_shape, w.shape(), win, dy.dtype()) ? "winograd"
                           : phases                                                             ? "phases"
                                    : std::string(kOneDnn);
  const std::string kernel =
      training_kernel("conv2d backward data", x_shape, w.shape(), win, dy.dtype(), rule, [&] {
        PassKernels k;
        if (may_winograd)
          k.ours.push_back({"winograd", run_as_is([&] { conv2d_backward_data_winograd(dy, w); }), {}});
        if (phases) {
          k.ours.push_back(
              {"phases", run_as_is([&] { conv2d_backward_data_phases(dy, w, x_shape, win); }), {}});
        }
        const ConvGeometry g = conv_geometry(x_shape, w.shape(), y_shape, false, win, dy.dtype());
        const ForwardHint hint = forward_pd(g, dnnl::prop_kind::forward_training);
        k.onednn_implementations = onednn::implementation_names(backward_data_pd(g, hint));
        k.onednn_run = [&](const std::string& impl) {
          return run_as_is([&, impl] { backward_data_direct(dy, w, x_shape, win, y_shape, impl); });
        };
        return k;
      });
  if (kernel == "winograd") return conv2d_backward_data_winograd(dy, w);
  if (kernel == "phases") return conv2d_backward_data_phases(dy, w, x_shape, win);
  return backward_data_direct(dy, w, x_shape, win, y_shape, implementation_of(kernel));
}

// x [N,H,W,C], dy [N,OH,OW,O]: dw [O,C/g,KH,KW] += dL/dw; *dbias [O] += dL/dbias unless dbias is null.
void conv2d_backward_weights(const Tensor& x, const Tensor& dy, const Window& win, Tensor& dw,
                             Tensor* dbias) {
  check_activation(x, "input", "[N,H,W,C]");
  check_f32(dw, 4, "weight gradient", "[O,I/groups,KH,KW]");
  if (dbias) check_bias(*dbias, dw.shape(), "bias gradient");
  const Shape y_shape = conv_output_shape(x.shape(), dw.shape(), win);
  if (dy.shape() != y_shape || dy.dtype() != x.dtype()) {
    throw InputError(fmt::format("conv2d backward: output gradient {} {} for an output of {}",
                                 dtype_name(dy.dtype()), shape_str(dy.shape()), shape_str(y_shape)));
  }
  const bool bias = dbias != nullptr;
  const bool may_winograd = winograd_may_train(x.shape(), dw.shape(), win, x.dtype());
  const bool may_matmul = weight_gradient_matmul_applies(x.shape(), dw.shape(), win, x.dtype(), bias);
  const std::string rule =
      may_winograd && winograd_trains_weights(x.shape(), dw.shape(), win, x.dtype()) ? "winograd"
      : weight_gradient_as_matmul(x.shape(), dw.shape(), win, x.dtype(), bias)       ? "matmul"
                                                                                     : std::string(kOneDnn);
  const std::string kernel =
      training_kernel("conv2d backward weights", x.shape(), dw.shape(), win, x.dtype(), rule, [&] {
        PassKernels k;
        if (may_winograd) {
          k.ours.push_back({"winograd",
                            into_scratch(dw, dbias,
                                         [&](Tensor& grad, Tensor* bias_grad) {
                                           conv2d_backward_weights_winograd(x, dy, grad, bias_grad);
                                         }),
                            {}});
        }
        if (may_matmul) {
          k.ours.push_back(
              {"matmul",
               into_scratch(dw, dbias,
                            [&](Tensor& grad, Tensor*) { conv2d_backward_weights_matmul(x, dy, win, grad); }),
               {}});
        }
        const ConvGeometry g = conv_geometry(x.shape(), dw.shape(), y_shape, bias, win, x.dtype());
        const ForwardHint hint = forward_pd(g, dnnl::prop_kind::forward_training);
        k.onednn_implementations = onednn::implementation_names(backward_weights_pd(g, hint));
        k.onednn_run = [&](const std::string& impl) {
          return into_scratch(dw, dbias, [&, impl](Tensor& grad, Tensor* bias_grad) {
            backward_weights_direct(x, dy, win, grad, bias_grad, y_shape, impl);
          });
        };
        return k;
      });
  if (kernel == "winograd") return conv2d_backward_weights_winograd(x, dy, dw, dbias);
  if (kernel == "matmul") return conv2d_backward_weights_matmul(x, dy, win, dw);
  backward_weights_direct(x, dy, win, dw, dbias, y_shape, implementation_of(kernel));
}

}  // namespace resnet::ops
