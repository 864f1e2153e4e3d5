#include "infer/buffer_planner.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <stdexcept>

namespace resnet::infer {
namespace {

size_t align_up(size_t bytes, size_t alignment) {
  return (bytes + alignment - 1) / alignment * alignment;
}

bool lifetimes_intersect(const BufferRequest& a, const BufferRequest& b) {
  return a.first <= b.last && b.first <= a.last;
}

void check(const std::vector<BufferRequest>& requests, size_t alignment) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0) {
    throw std::invalid_argument("plan_buffers: alignment must be a power of two");
  }
  for (const BufferRequest& r : requests) {
    if (r.first > r.last) throw std::invalid_argument("plan_buffers: a lifetime ends before it starts");
  }
}

}  // namespace

BufferLayout plan_buffers(const std::vector<BufferRequest>& requests, size_t alignment) {
  check(requests, alignment);
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t{0});
  // Largest first; ties by earlier start, then index, so the layout is deterministic.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (requests[a].bytes != requests[b].bytes) return requests[a].bytes > requests[b].bytes;
    return requests[a].first < requests[b].first;
  });

  BufferLayout layout;
  layout.offsets.assign(requests.size(), 0);
  std::vector<size_t> placed;
  for (size_t i : order) {
    const size_t size = align_up(requests[i].bytes, alignment);
    placed.push_back(i);
    if (size == 0) continue;  // offset 0, takes no room
    // The [begin, end) ranges taken by placed buffers alive at the same time, by begin.
    std::vector<std::pair<size_t, size_t>> taken;
    for (size_t j : placed) {
      if (j != i && requests[j].bytes > 0 && lifetimes_intersect(requests[i], requests[j])) {
        taken.emplace_back(layout.offsets[j], layout.offsets[j] + align_up(requests[j].bytes, alignment));
      }
    }
    std::sort(taken.begin(), taken.end());
    // The lowest gap that fits.
    size_t offset = 0;
    for (const auto& [begin, end] : taken) {
      if (offset + size <= begin) break;
      offset = std::max(offset, end);
    }
    layout.offsets[i] = offset;
    layout.arena_bytes = std::max(layout.arena_bytes, offset + size);
  }
  return layout;
}

size_t live_set_peak(const std::vector<BufferRequest>& requests, size_t alignment) {
  check(requests, alignment);
  // Sweep over time: +size at first, -size after last.
  std::map<int, long long> delta;
  for (const BufferRequest& r : requests) {
    const auto size = static_cast<long long>(align_up(r.bytes, alignment));
    delta[r.first] += size;
    delta[r.last + 1] -= size;
  }
  long long live = 0, peak = 0;
  for (const auto& [time, change] : delta) {
    live += change;
    peak = std::max(peak, live);
  }
  return static_cast<size_t>(peak);
}

}  // namespace resnet::infer
