// A 64-byte-aligned heap block of bytes that frees itself: the plan's activation arena, scratchpad and
// Winograd buffer.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

namespace resnet {

using AlignedBytes = std::unique_ptr<std::byte, decltype(&std::free)>;

// At least `bytes` (rounded up to whole 64-byte lines; never 0 bytes). Throws std::bad_alloc.
inline AlignedBytes allocate_aligned_bytes(size_t bytes) {
  constexpr size_t kAlignment = 64;
  const size_t rounded = std::max(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  AlignedBytes block(static_cast<std::byte*>(std::aligned_alloc(kAlignment, rounded)), &std::free);
  if (block == nullptr) throw std::bad_alloc();
  return block;
}

}  // namespace resnet
