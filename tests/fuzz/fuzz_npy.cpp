// NumPy .npy (src/io/npy.cpp), as `resnet infer --input` reads it.
#include "fuzz_files.h"
#include "resnet/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = resnet::fuzz::write_scratch_file("input.npy", resnet::fuzz::as_text(data, size));
  resnet::fuzz::expect_refusal_or_success([&] { resnet::load_npy(path); });
  return 0;
}
