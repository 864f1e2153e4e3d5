#include "core/storage_pool.h"

#include <bit>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <vector>

namespace resnet {
namespace {

constexpr size_t kAlignment = 64;
constexpr size_t kMinPooledBytes = size_t{1} << 20;  // 1 MiB
constexpr size_t kMaxCachedBytes = size_t{4} << 30;  // 4 GiB

// Rounds up to one of four classes per power of two (at most 25% waste).
size_t size_class(size_t nbytes) {
  const size_t top = std::bit_floor(nbytes);
  const size_t step = top / 4;
  return (nbytes + step - 1) / step * step;
}

class StoragePool {
 public:
  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(bytes);
      if (it != free_.end() && !it->second.empty()) {
        void* block = it->second.back();
        it->second.pop_back();
        cached_ -= bytes;
        return block;
      }
    }
    return std::aligned_alloc(kAlignment, bytes);
  }

  void give_back(void* block, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cached_ + bytes > kMaxCachedBytes) {
      std::free(block);
      return;
    }
    free_[bytes].push_back(block);
    cached_ += bytes;
  }

  size_t cached() {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_;
  }

 private:
  std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0;
};

StoragePool& pool() {
  static StoragePool* instance =
      new StoragePool();  // never destroyed: tensors may outlive static destruction
  return *instance;
}

}  // namespace

std::shared_ptr<std::byte> allocate_storage(size_t nbytes, bool zeroed) {
  size_t bytes = (nbytes + kAlignment - 1) / kAlignment * kAlignment;
  if (bytes == 0) bytes = kAlignment;
  const bool pooled = bytes >= kMinPooledBytes;
  if (pooled) bytes = size_class(bytes);
  void* raw = pooled ? pool().take(bytes) : std::aligned_alloc(kAlignment, bytes);
  if (raw == nullptr) throw std::bad_alloc();
  if (zeroed) std::memset(raw, 0, bytes);
  auto release = [bytes, pooled](std::byte* p) {
    if (pooled) {
      pool().give_back(p, bytes);
    } else {
      std::free(p);
    }
  };
  return std::shared_ptr<std::byte>(static_cast<std::byte*>(raw), release);
}

size_t storage_pool_cached_bytes() {
  return pool().cached();
}

}  // namespace resnet
