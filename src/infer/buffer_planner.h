// Lays out buffers with known lifetimes in one arena so that two buffers alive at the same time never
// overlap, while buffers whose lifetimes are disjoint share memory. Standard library only, so that it can be
// tested (and sanitized) on its own.
//
// Greedy by size (as TensorFlow Lite's arena planner): buffers are placed largest first, each at the lowest
// aligned offset where it does not overlap any already placed buffer whose lifetime intersects its own. For
// the chain-with-shortcuts lifetimes of a ResNet this lands on (or very near) the largest live set.
#pragma once

#include <cstddef>
#include <vector>

namespace resnet::infer {

struct BufferRequest {
  size_t bytes = 0;
  int first = 0;  // alive over times [first, last], inclusive
  int last = 0;
};

struct BufferLayout {
  std::vector<size_t> offsets;  // one per request, multiples of the alignment
  size_t arena_bytes = 0;       // the end of the furthest buffer, rounded up to the alignment
};

// alignment: a power of two. A zero-byte request gets an offset too, and overlaps nothing.
BufferLayout plan_buffers(const std::vector<BufferRequest>& requests, size_t alignment = 64);

// The largest sum of (aligned) sizes alive at one time: no layout can use less memory.
size_t live_set_peak(const std::vector<BufferRequest>& requests, size_t alignment = 64);

}  // namespace resnet::infer
