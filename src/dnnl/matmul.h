// One cached oneDNN matmul c (+)= a · b on the CPU engine, for the kernels that reduce over a long axis in
// pieces (the Winograd weight gradient, the weight gradients over patches): accumulate adds the product to
// what c holds (a sum post-op), else writes it. `key` must determine the three descriptors.
#pragma once

#include <cstdint>
#include <dnnl.hpp>
#include <string>

#include "dnnl/primitive_cache.h"

namespace resnet::onednn {

// How many images one matmul of such a reduction takes: the largest divisor of the batch whose bytes
// (image_bytes each) fit in group_bytes; 1 when one image's do not.
int64_t images_per_group(int64_t batch, double image_bytes, double group_bytes);

CachedPrimitive cached_matmul(const std::string& key, const dnnl::memory::desc& a,
                              const dnnl::memory::desc& b, const dnnl::memory::desc& c, bool accumulate);

}  // namespace resnet::onednn
