// A cache of large tensor blocks. Freshly mmap'ed memory page-faults on first touch, and a forward pass
// allocates hundreds of large activations: reusing freed blocks of the same size class avoids that cost on
// every call. Blocks of at least kMinPooledBytes are rounded up to a size class (powers of two with 4 steps
// between) and kept after release, up to kMaxCachedBytes in all; smaller blocks go straight to malloc.
#pragma once

#include <cstddef>
#include <memory>

namespace resnet {

// 64-byte-aligned storage of at least nbytes; zeroed if asked.
std::shared_ptr<std::byte> allocate_storage(size_t nbytes, bool zeroed);

// Bytes currently held in the cache (not in use). For tests.
size_t storage_pool_cached_bytes();

}  // namespace resnet
