// Batch normalization over the channel (last) axis on oneDNN, for [N,H,W,C] (nhwc) and [N,C] (nc) inputs:
// inference, training (batch statistics) and the training backward. Activations are f32 or bf16; weight, bias
// and the statistics are f32 either way (oneDNN accumulates bf16 batch norm in f32).
#include <fmt/format.h>

#include "dnnl/accumulate.h"
#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/ops.h"
#include "dnnl/primitive_cache.h"
#include "resnet/error.h"

namespace resnet::ops {
namespace {

using dnnl::memory;
using dnnl::normalization_flags;

void check_channel_vector(const Tensor& t, const char* name, int64_t channels) {
  if (t.rank() != 1 || t.dim(0) != channels || t.dtype() != DType::f32) {
    throw InputError(fmt::format("batchnorm: {} must be f32 [{}], got {} {}", name, channels,
                                 dtype_name(t.dtype()), shape_str(t.shape())));
  }
}

void check_input(const Tensor& x, const char* name) {
  if ((x.rank() != 4 && x.rank() != 2) || !onednn::is_activation_dtype(x.dtype())) {
    throw InputError(fmt::format("batchnorm: {} must be f32 or bf16 [N,H,W,C] or [N,C], got {} {}", name,
                                 dtype_name(x.dtype()), shape_str(x.shape())));
  }
}

// The descriptors of one batch norm (input shape + flags) and the cache key that determines them.
struct BatchNormGeometry {
  memory::desc x_md, c_md;
  normalization_flags flags;
  std::string key;
};

// fuse_relu: the ReLU after it in the same pass (training only).
BatchNormGeometry batchnorm_geometry(const Tensor& x, bool scale, bool shift, bool training, float eps,
                                     bool fuse_relu = false) {
  BatchNormGeometry g;
  const auto format = x.rank() == 4 ? memory::format_tag::nhwc : memory::format_tag::nc;
  g.x_md = onednn::desc_of(x.shape(), x.dtype(), format);
  g.c_md = onednn::desc_of({x.dim(-1)}, DType::f32, memory::format_tag::x);
  g.flags = normalization_flags::none;
  if (scale) g.flags |= normalization_flags::use_scale;
  if (shift) g.flags |= normalization_flags::use_shift;
  if (!training) g.flags |= normalization_flags::use_global_stats;
  if (fuse_relu) g.flags |= normalization_flags::fuse_norm_relu;
  g.key = fmt::format("src={}|{}|rank={}|training={}|eps={}|flags={}", onednn::dims_key(g.x_md.get_dims()),
                      dtype_name(x.dtype()), x.rank(), training, eps, static_cast<unsigned>(g.flags));
  return g;
}

dnnl::batch_normalization_forward::primitive_desc forward_pd(const BatchNormGeometry& g, bool training,
                                                             float eps) {
  auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  return dnnl::batch_normalization_forward::primitive_desc(onednn::cpu_engine(), prop, g.x_md, g.x_md, eps,
                                                           g.flags, onednn::default_attr());
}

// Inference (training = false): normalizes with mean/var as given. Training: computes the batch statistics
// into mean/var ([C], variance biased: divided by the number of elements per channel) and normalizes with
// them.
// relu_mask (training only; null: no ReLU): the ReLU fused, its workspace written there.
Tensor batchnorm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, bool training,
                         Tensor& mean, Tensor& var, Tensor* relu_mask = nullptr) {
  check_input(x, "input");
  const int64_t c = x.dim(-1);
  if (weight.defined()) check_channel_vector(weight, "weight", c);
  if (bias.defined()) check_channel_vector(bias, "bias", c);
  if (training) {
    mean = Tensor::empty({c});
    var = Tensor::empty({c});
  } else {
    check_channel_vector(mean, "running_mean", c);
    check_channel_vector(var, "running_var", c);
  }
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  if (shape_only() && !training) return y;

  return onednn::translate_errors("batchnorm", [&] {
    const BatchNormGeometry g =
        batchnorm_geometry(x, weight.defined(), bias.defined(), training, eps, relu_mask != nullptr);
    onednn::CachedPrimitive bn = onednn::primitive_cache().get_or_create(
        "batchnorm|" + g.key, [&] { return forward_pd(g, training, eps); });

    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, onednn::wrap(x, g.x_md)},
        {DNNL_ARG_DST, onednn::wrap(y, g.x_md)},
        {DNNL_ARG_MEAN, onednn::wrap(mean, g.c_md)},
        {DNNL_ARG_VARIANCE, onednn::wrap(var, g.c_md)},
    };
    if (weight.defined()) args.emplace(DNNL_ARG_SCALE, onednn::wrap(weight, g.c_md));
    if (bias.defined()) args.emplace(DNNL_ARG_SHIFT, onednn::wrap(bias, g.c_md));
    if (relu_mask != nullptr) {
      const memory::desc ws = bn.pd.workspace_desc();
      *relu_mask = Tensor::empty({static_cast<int64_t>(ws.get_size())}, DType::u8);
      args.emplace(DNNL_ARG_WORKSPACE, onednn::wrap(*relu_mask, ws));
    }
    onednn::execute(bn, std::move(args));
    return y;
  });
}

}  // namespace

Tensor batchnorm_forward_inference(const Tensor& x, const Tensor& weight, const Tensor& bias,
                                   const Tensor& running_mean, const Tensor& running_var, float eps) {
  // Only read in inference; the shared helper takes them as in/out parameters.
  Tensor mean = running_mean, var = running_var;
  return batchnorm_forward(x, weight, bias, eps, false, mean, var);
}

Tensor batchnorm_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                                  Tensor& batch_mean, Tensor& batch_var) {
  return batchnorm_forward(x, weight, bias, eps, true, batch_mean, batch_var);
}

Tensor batchnorm_relu_forward_training(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps,
                                       Tensor& batch_mean, Tensor& batch_var, Tensor& relu_mask) {
  return batchnorm_forward(x, weight, bias, eps, true, batch_mean, batch_var, &relu_mask);
}

namespace {

// dy, x [N,H,W,C] or [N,C]; weight, mean, var, dweight, dbias [C] -> dx like x. training: mean/var are the
// forward's batch statistics (dx includes their dependence on x); else the running statistics the forward
// used as constants (oneDNN's use_global_stats: dx = dy * weight / sqrt(var + eps)).
// relu_mask (training only; null: no ReLU): the workspace of batchnorm_relu_forward_training, dy masked by
// it.
Tensor batchnorm_backward_with(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& mean,
                               const Tensor& var, float eps, bool training, Tensor& dweight, Tensor& dbias,
                               const Tensor* relu_mask = nullptr) {
  check_input(x, "input");
  if (dy.shape() != x.shape() || dy.dtype() != x.dtype()) {
    throw InputError(fmt::format("batchnorm backward: output gradient {} {} for an input of {}",
                                 dtype_name(dy.dtype()), shape_str(dy.shape()), shape_str(x.shape())));
  }
  const int64_t c = x.dim(-1);
  check_channel_vector(weight, "weight", c);
  check_channel_vector(mean, training ? "batch mean" : "running_mean", c);
  check_channel_vector(var, training ? "batch variance" : "running_var", c);
  check_channel_vector(dweight, "weight gradient", c);
  check_channel_vector(dbias, "bias gradient", c);
  Tensor dx = Tensor::empty(x.shape(), x.dtype());

  return onednn::translate_errors("batchnorm backward", [&] {
    const BatchNormGeometry g = batchnorm_geometry(x, true, true, training, eps, relu_mask != nullptr);
    const std::string key = "batchnorm_bwd|" + g.key;
    onednn::CachedPrimitive bn = onednn::primitive_cache().get_or_create(key, [&] {
      return dnnl::batch_normalization_backward::primitive_desc(
          onednn::cpu_engine(), dnnl::prop_kind::backward, g.x_md, g.x_md, g.x_md, eps, g.flags,
          forward_pd(g, true, eps), onednn::default_attr());
    });
    // This call's scale/shift gradients, then added into the caller's.
    Tensor dweight_now = Tensor::empty({c}), dbias_now = Tensor::empty({c});
    const memory dweight_mem = onednn::wrap(dweight_now, g.c_md), dbias_mem = onednn::wrap(dbias_now, g.c_md);
    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, onednn::wrap(x, g.x_md)},
        {DNNL_ARG_DIFF_DST, onednn::wrap(dy, g.x_md)},
        {DNNL_ARG_MEAN, onednn::wrap(mean, g.c_md)},
        {DNNL_ARG_VARIANCE, onednn::wrap(var, g.c_md)},
        {DNNL_ARG_SCALE, onednn::wrap(weight, g.c_md)},
        {DNNL_ARG_DIFF_SRC, onednn::wrap(dx, g.x_md)},
        {DNNL_ARG_DIFF_SCALE, dweight_mem},
        {DNNL_ARG_DIFF_SHIFT, dbias_mem},
    };
    if (relu_mask != nullptr) {
      const memory::desc ws = bn.pd.workspace_desc();
      if (relu_mask->numel() != static_cast<int64_t>(ws.get_size()) || relu_mask->dtype() != DType::u8) {
        throw InternalError("batchnorm backward: the ReLU mask is not this batch norm's workspace");
      }
      args.emplace(DNNL_ARG_WORKSPACE, onednn::wrap(*relu_mask, ws));
    }
    onednn::execute(bn, std::move(args));
    onednn::accumulate(dweight, g.c_md, dweight_mem, key + "|c");
    onednn::accumulate(dbias, g.c_md, dbias_mem, key + "|c");
    return dx;
  });
}

}  // namespace

Tensor batchnorm_backward(const Tensor& dy, const Tensor& x, const Tensor& weight, const Tensor& batch_mean,
                          const Tensor& batch_var, float eps, Tensor& dweight, Tensor& dbias) {
  return batchnorm_backward_with(dy, x, weight, batch_mean, batch_var, eps, true, dweight, dbias);
}

Tensor batchnorm_relu_backward(const Tensor& dy, const Tensor& x, const Tensor& weight,
                               const Tensor& batch_mean, const Tensor& batch_var, const Tensor& relu_mask,
                               float eps, Tensor& dweight, Tensor& dbias) {
  return batchnorm_backward_with(dy, x, weight, batch_mean, batch_var, eps, true, dweight, dbias, &relu_mask);
}

Tensor batchnorm_backward_global_stats(const Tensor& dy, const Tensor& x, const Tensor& weight,
                                       const Tensor& running_mean, const Tensor& running_var, float eps,
                                       Tensor& dweight, Tensor& dbias) {
  return batchnorm_backward_with(dy, x, weight, running_mean, running_var, eps, false, dweight, dbias);
}

}  // namespace resnet::ops
