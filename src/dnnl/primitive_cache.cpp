#include "dnnl/primitive_cache.h"

#include <fmt/format.h>

#include "dnnl/engine.h"
#include "dnnl/memory.h"
#include "dnnl/ops.h"

namespace resnet::onednn {

CachedPrimitive PrimitiveCache::get_or_create(const std::string& key,
                                              const std::function<dnnl::primitive_desc_base()>& make_pd) {
  std::string full_key = fmt::format("{}|threads={}", key, ops::num_threads());
  {
    std::lock_guard lock(mutex_);
    auto it = index_.find(full_key);
    if (it != index_.end()) {
      entries_.splice(entries_.begin(), entries_, it->second);
      return it->second->second;
    }
  }
  dnnl::primitive_desc_base pd = make_pd();
  CachedPrimitive created{pd, dnnl::primitive(pd.get())};

  std::lock_guard lock(mutex_);
  auto it = index_.find(full_key);
  if (it != index_.end()) return it->second->second;
  entries_.emplace_front(full_key, created);
  index_.emplace(std::move(full_key), entries_.begin());
  while (entries_.size() > capacity_) {
    index_.erase(entries_.back().first);
    entries_.pop_back();
  }
  return created;
}

size_t PrimitiveCache::size() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

void PrimitiveCache::clear() {
  std::lock_guard lock(mutex_);
  index_.clear();
  entries_.clear();
}

PrimitiveCache& primitive_cache() {
  // A ResNet forward + backward needs a few hundred distinct primitives at most.
  static PrimitiveCache cache(1024);
  return cache;
}

std::string dims_key(const dnnl::memory::dims& dims) {
  return fmt::format("{}", fmt::join(dims, "x"));
}

void execute(const CachedPrimitive& p, std::unordered_map<int, dnnl::memory> args) {
  dnnl::memory::desc scratchpad_md = p.pd.scratchpad_desc();
  if (scratchpad_md.get_size() > 0) {
    args.emplace(DNNL_ARG_SCRATCHPAD, thread_memory(ThreadBuffer::scratchpad, scratchpad_md));
  }
  dnnl::stream& stream = cpu_stream();
  p.primitive.execute(stream, args);
  stream.wait();
}

}  // namespace resnet::onednn
