// Whether two oneDNN kernels compute the same int8 convolution. Not all do: kernels for CPUs without VNNI
// (oneDNN's "avx2", "sse41", "avx512_core" int8 kernels) multiply u8 by s8 in 16-bit pairs that could
// saturate, so oneDNN halves their weights first and they round differently (resnet18 int8: 1.3% of the
// logits' scale apart from the VNNI kernels). Tuning keeps only the kernels whose output is the untuned
// kernel's, byte for byte, on one probe.
#pragma once

#include <cstdint>
#include <oneapi/dnnl/dnnl.hpp>
#include <vector>

#include "infer/onednn/kernel.h"
#include "resnet/tensor.h"

namespace resnet::infer {

// The bytes `pd` writes for a fixed pseudo-random source (and, with a sum post-op, destination), zero bias,
// the plain s8 `weight` (described by weight_md; reordered into the kernel's layout, as the plan does) and
// the step's scales.
std::vector<uint8_t> int8_conv_probe(const dnnl::convolution_forward::primitive_desc& pd,
                                     const Tensor& weight, const dnnl::memory::desc& weight_md,
                                     const RuntimeScales& scales);

}  // namespace resnet::infer
