// Gradient accumulation, as torch does it: every backward adds its parameter gradients into Parameter::grad
// until zero_grad.
#pragma once

#include <dnnl.hpp>
#include <string>

#include "resnet/tensor.h"

namespace resnet::onednn {

// acc += diff, where acc is f32 described by plain_md (e.g. OIHW weights) and diff is a primitive's output in
// whatever layout it chose (e.g. blocked diff weights). One pass: a loop when the layouts agree, else a
// cached reorder with a sum post-op, which also converts the layout. `key` must determine diff's descriptor
// (pass the producing primitive's key).
void accumulate(Tensor& acc, const dnnl::memory::desc& plain_md, const dnnl::memory& diff,
                const std::string& key);

struct CachedPrimitive;

// Runs a backward-weights primitive (convolution or inner product) on x (x_md) and dy (dy_md) and adds its
// weight gradient into dw (plain layout w_plain_md) and, if dbias is given, its bias gradient (b_md) into it.
void run_backward_weights(const CachedPrimitive& primitive, const Tensor& x, const dnnl::memory::desc& x_md,
                          const Tensor& dy, const dnnl::memory::desc& dy_md,
                          const dnnl::memory::desc& w_plain_md, const dnnl::memory::desc& b_md, Tensor& dw,
                          Tensor* dbias, const std::string& key);

}  // namespace resnet::onednn
