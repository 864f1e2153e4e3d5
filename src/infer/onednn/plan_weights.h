// Reordered plan weights, keyed by (step, layout): the layout a primitive picks depends on the shapes and the
// precision, so plans for other batch sizes mostly find their weights here already.
#pragma once

#include <cstddef>
#include <dnnl.hpp>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "infer/onednn/plan_kernels.h"
#include "resnet/tensor.h"

namespace resnet::infer {

class PlanWeights {
 public:
  // Step `step`'s weight `plain` (f32, described by plain_md) in layout `wanted`; reorders (and sets
  // *reordered) only when no stored copy has that layout.
  dnnl::memory get(size_t step, const Tensor& plain, const dnnl::memory::desc& plain_md,
                   const dnnl::memory::desc& wanted, bool* reordered);

 private:
  std::mutex mutex_;
  std::map<size_t, std::vector<std::pair<dnnl::memory::desc, dnnl::memory>>> stored_;
};

}  // namespace resnet::infer
