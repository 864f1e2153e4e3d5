// One cached oneDNN matmul c (+)= a · b on the CPU engine, for the kernels that reduce over a long axis in
// pieces (the Winograd weight gradient, the weight gradients over patches): accumulate adds the product to
// what c holds (a sum post-op), else writes it. `key` must determine the three descriptors.
#pragma once

#include <dnnl.hpp>
#include <string>

#include "dnnl/primitive_cache.h"

namespace resnet::onednn {

CachedPrimitive cached_matmul(const std::string& key, const dnnl::memory::desc& a,
                              const dnnl::memory::desc& b, const dnnl::memory::desc& c, bool accumulate);

}  // namespace resnet::onednn
