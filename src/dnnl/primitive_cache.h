// A process-wide cache of oneDNN primitives, so a layer creates its primitive (and picks an implementation)
// once per shape and reuses it on every later call.
//
// Keys are text naming the op kind, the shapes and every attribute the primitive depends on, e.g.
// "conv2d|src=32x64x56x56|w=64x64x3x3|bias=1|s=1x1|p=1x1-1x1|d=0x0|g=1". The cache appends the OpenMP thread
// count, because oneDNN partitions work for the thread count a primitive was created under.
#pragma once

#include <cstddef>
#include <dnnl.hpp>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace resnet::onednn {

struct CachedPrimitive {
  dnnl::primitive_desc_base pd;  // for the memory descriptors the primitive chose (weights, scratchpad, ...)
  dnnl::primitive primitive;
};

// Thread-safe; least recently used entries are dropped beyond `capacity`.
class PrimitiveCache {
 public:
  explicit PrimitiveCache(size_t capacity) : capacity_(capacity) {}

  // The primitive for key; on a miss make_pd() builds its descriptor and the primitive is created outside the
  // lock (two threads missing the same key at once both create it; one copy is kept).
  CachedPrimitive get_or_create(const std::string& key,
                                const std::function<dnnl::primitive_desc_base()>& make_pd);

  size_t size() const;
  void clear();

 private:
  using Entry = std::pair<std::string, CachedPrimitive>;
  size_t capacity_;
  mutable std::mutex mutex_;
  std::list<Entry> entries_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
};

PrimitiveCache& primitive_cache();

// "32x64x56x56"
std::string dims_key(const dnnl::memory::dims& dims);

// Executes p on the shared stream with args, adding the scratchpad (in a thread buffer) the primitive asked
// for, and waits for completion.
void execute(const CachedPrimitive& p, std::unordered_map<int, dnnl::memory> args);

}  // namespace resnet::onednn
