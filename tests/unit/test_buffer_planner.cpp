// The buffer planner on its own (standard library only, so this test also builds with just
// src/infer/buffer_planner.cpp, e.g. under AddressSanitizer): two buffers alive at the same time never share
// a byte, and memory is reused across disjoint lifetimes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <stdexcept>
#include <vector>

#include "infer/buffer_planner.h"

namespace resnet::infer {
namespace {

// Every pair of buffers alive at a common time occupies disjoint bytes; offsets are aligned; the arena holds
// every buffer and is at least the largest live set.
void expect_valid_layout(const std::vector<BufferRequest>& requests, const BufferLayout& layout,
                         size_t alignment) {
  ASSERT_EQ(layout.offsets.size(), requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ(layout.offsets[i] % alignment, 0u) << "buffer " << i;
    EXPECT_LE(layout.offsets[i] + requests[i].bytes, layout.arena_bytes) << "buffer " << i;
    for (size_t j = i + 1; j < requests.size(); ++j) {
      const BufferRequest &a = requests[i], &b = requests[j];
      const bool same_time = a.first <= b.last && b.first <= a.last;
      const bool same_bytes = a.bytes > 0 && b.bytes > 0 && layout.offsets[i] < layout.offsets[j] + b.bytes &&
                              layout.offsets[j] < layout.offsets[i] + a.bytes;
      EXPECT_FALSE(same_time && same_bytes)
          << "buffers " << i << " [" << a.first << "," << a.last << "] @" << layout.offsets[i] << "+"
          << a.bytes << " and " << j << " [" << b.first << "," << b.last << "] @" << layout.offsets[j] << "+"
          << b.bytes;
    }
  }
  EXPECT_GE(layout.arena_bytes, live_set_peak(requests, alignment));
}

// 1-40 buffers living in steps 0-36 for 1-8 steps each, 1-5000 bytes (one in five empty).
std::vector<BufferRequest> random_requests(std::mt19937& rng) {
  const int count = 1 + static_cast<int>(rng() % 40);
  std::vector<BufferRequest> requests;
  for (int i = 0; i < count; ++i) {
    const int first = static_cast<int>(rng() % 30);
    const int length = static_cast<int>(rng() % 8);
    const size_t bytes = rng() % 5 == 0 ? 0 : 1 + rng() % 5000;
    requests.push_back({bytes, first, first + length});
  }
  return requests;
}

TEST(BufferPlanner, NeverOverlapsBuffersAliveAtTheSameTime) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const std::vector<BufferRequest> requests = random_requests(rng);
    const size_t alignment = size_t{1} << (rng() % 8);
    expect_valid_layout(requests, plan_buffers(requests, alignment), alignment);
    if (HasFailure()) return;
  }
}

// Runs the layout on real memory: an arena of exactly arena_bytes; at each time every buffer that starts is
// filled with its own tag byte and every live buffer must still hold its tag. An overlap shows as a wrong
// tag; a buffer reaching past the arena is a heap overflow that AddressSanitizer reports (planner_asan runs
// this).
void expect_layout_works_in_memory(const std::vector<BufferRequest>& requests, const BufferLayout& layout) {
  const auto arena = std::make_unique<unsigned char[]>(layout.arena_bytes);
  int end = 0;
  for (const BufferRequest& r : requests) end = std::max(end, r.last + 1);
  for (int t = 0; t < end; ++t) {
    for (size_t i = 0; i < requests.size(); ++i) {
      if (requests[i].first == t && requests[i].bytes > 0)
        std::memset(arena.get() + layout.offsets[i], static_cast<int>(i % 251), requests[i].bytes);
    }
    for (size_t i = 0; i < requests.size(); ++i) {
      const BufferRequest& r = requests[i];
      if (r.first > t || r.last < t) continue;
      const unsigned char* p = arena.get() + layout.offsets[i];
      for (size_t b = 0; b < r.bytes; ++b) {
        if (p[b] != i % 251) {
          ADD_FAILURE() << "time " << t << ": buffer " << i << " byte " << b << " was overwritten";
          return;
        }
      }
    }
  }
}

TEST(BufferPlanner, RandomLayoutsHoldEveryLiveBufferInARealArena) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const std::vector<BufferRequest> requests = random_requests(rng);
    expect_layout_works_in_memory(requests, plan_buffers(requests, size_t{1} << (rng() % 8)));
    if (HasFailure()) return;
  }
}

TEST(BufferPlanner, ChainOfStepsPingPongsBetweenTwoBuffers) {
  // Value i is written at time i and read at time i + 1, as in a plain chain of layers.
  std::vector<BufferRequest> requests;
  for (int i = 0; i < 20; ++i) requests.push_back({1000, i, i + 1});
  const BufferLayout layout = plan_buffers(requests, 64);
  expect_valid_layout(requests, layout, 64);
  EXPECT_EQ(layout.arena_bytes, 2 * 1024u);
  EXPECT_EQ(live_set_peak(requests, 64), 2 * 1024u);
}

TEST(BufferPlanner, ResidualShortcutStaysAliveAcrossTheBranch) {
  // x (0..3) feeds the branch a (1..2), b (2..3); the last step accumulates into x.
  const std::vector<BufferRequest> requests = {{640, 0, 3}, {640, 1, 2}, {640, 2, 3}};
  const BufferLayout layout = plan_buffers(requests, 64);
  expect_valid_layout(requests, layout, 64);
  EXPECT_EQ(layout.arena_bytes, 3 * 640u);
}

TEST(BufferPlanner, RejectsBadInput) {
  EXPECT_THROW(plan_buffers({{10, 3, 2}}), std::invalid_argument);
  EXPECT_THROW(plan_buffers({{10, 0, 1}}, 48), std::invalid_argument);
  EXPECT_EQ(plan_buffers({}).arena_bytes, 0u);
}

}  // namespace
}  // namespace resnet::infer
