// How far deflate can expand data: about 1032:1 (zlib's technical details), so a compressed stream of n bytes
// inflates to at most ~1032 n. Containers use it to refuse, from a header, a size its file cannot hold.
#pragma once

#include <cstdint>

namespace resnet {

inline constexpr uint64_t kMaxDeflateRatio = 1032;

}  // namespace resnet
