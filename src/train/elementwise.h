// What the optimizer and clipping loops share: they stream over parameter-sized arrays (memory-bound), and
// threads only pay off for large tensors; the many small ones (biases, BN) stay on the calling thread.
#pragma once

#include <cstdint>

namespace resnet::train_detail {

// Elements below which a loop runs on one thread.
constexpr int64_t kParallelMinElements = int64_t{1} << 15;

}  // namespace resnet::train_detail
