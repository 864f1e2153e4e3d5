// The restricted unpickler alone (src/io/restricted_unpickler.cpp): the bytes are data.pkl, as a .pth file's
// zip entry would hold them (at most kMaxPickleBytes).
#include <span>

#include "fuzz_files.h"
#include "io/restricted_unpickler.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > resnet::kMaxPickleBytes) return 0;  // ZipArchive::read refuses it before the unpickler runs
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  resnet::fuzz::expect_refusal_or_success([&] { resnet::unpickle_state_dict(bytes, "input.pth"); });
  return 0;
}
