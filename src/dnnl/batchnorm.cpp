// Batch normalization over the channel (last) axis on oneDNN, for [N,H,W,C] (nhwc) and [N,C] (nc) inputs.
#include <fmt/format.h>

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

// Inference (training = false): normalizes with mean/var as given. Training: computes the batch statistics
// into mean/var ([C], variance biased: divided by the number of elements per channel) and normalizes with
// them.
Tensor batchnorm_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps, bool training,
                         Tensor& mean, Tensor& var) {
  if ((x.rank() != 4 && x.rank() != 2) || x.dtype() != DType::f32) {
    throw InputError(fmt::format("batchnorm: input must be f32 [N,H,W,C] or [N,C], got {} {}",
                                 dtype_name(x.dtype()), shape_str(x.shape())));
  }
  const int64_t c = x.dim(-1);
  if (weight.defined()) check_channel_vector(weight, "weight", c);
  if (bias.defined()) check_channel_vector(bias, "bias", c);
  if (training) {
    mean = Tensor({c});
    var = Tensor({c});
  } else {
    check_channel_vector(mean, "running_mean", c);
    check_channel_vector(var, "running_var", c);
  }
  Tensor y(x.shape());

  return onednn::translate_errors("batchnorm", [&] {
    const auto format = x.rank() == 4 ? memory::format_tag::nhwc : memory::format_tag::nc;
    const memory::desc x_md = onednn::desc_of(x.shape(), DType::f32, format);
    const memory::desc c_md = onednn::desc_of({c}, DType::f32, memory::format_tag::x);
    auto flags = normalization_flags::none;
    if (weight.defined()) flags |= normalization_flags::use_scale;
    if (bias.defined()) flags |= normalization_flags::use_shift;
    if (!training) flags |= normalization_flags::use_global_stats;

    const std::string key =
        fmt::format("batchnorm|src={}|rank={}|training={}|eps={}|flags={}", onednn::dims_key(x_md.get_dims()),
                    x.rank(), training, eps, static_cast<unsigned>(flags));
    onednn::CachedPrimitive bn = onednn::primitive_cache().get_or_create(key, [&] {
      auto prop = training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
      return dnnl::batch_normalization_forward::primitive_desc(onednn::cpu_engine(), prop, x_md, x_md, eps,
                                                               flags, onednn::default_attr());
    });

    std::unordered_map<int, memory> args = {
        {DNNL_ARG_SRC, onednn::wrap(x, x_md)},
        {DNNL_ARG_DST, onednn::wrap(y, x_md)},
        {DNNL_ARG_MEAN, onednn::wrap(mean, c_md)},
        {DNNL_ARG_VARIANCE, onednn::wrap(var, c_md)},
    };
    if (weight.defined()) args.emplace(DNNL_ARG_SCALE, onednn::wrap(weight, c_md));
    if (bias.defined()) args.emplace(DNNL_ARG_SHIFT, onednn::wrap(bias, c_md));
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

}  // namespace resnet::ops
