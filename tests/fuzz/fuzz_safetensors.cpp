// safetensors (src/io/safetensors.cpp): the tensors and the metadata, as `resnet convert` and --weights read
// them.
#include "fuzz_files.h"
#include "resnet/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path =
      resnet::fuzz::write_scratch_file("weights.safetensors", resnet::fuzz::as_text(data, size));
  resnet::fuzz::expect_refusal_or_success([&] { resnet::load_safetensors(path); });
  resnet::fuzz::expect_refusal_or_success([&] { resnet::load_safetensors_metadata(path); });
  return 0;
}
