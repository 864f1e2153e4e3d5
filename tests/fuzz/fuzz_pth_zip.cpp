// torch.save's zip container (src/io/zip_archive.cpp + src/io/pth.cpp): the archive is opened from memory and
// loaded as `resnet infer --weights x.pth` loads it (data.pkl found, byte order, storages checked and read).
#include <span>

#include "fuzz_files.h"
#include "io/pth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  resnet::fuzz::expect_refusal_or_success([&] {
    const resnet::ZipArchive zip(bytes, "input.pth");
    resnet::load_pth_archive(zip, "input.pth");
  });
  return 0;
}
