// The .int8.safetensors file of `resnet quantize` (src/infer/int8_file.cpp): the safetensors, its metadata
// and the quant.* entries turned back into f32 weights and a calibration, as --weights and `resnet convert`
// read it (cli/common.cpp, load_model_weights).
#include "fuzz_files.h"
#include "resnet/int8_weights.h"
#include "resnet/weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path =
      resnet::fuzz::write_scratch_file("model.int8.safetensors", resnet::fuzz::as_text(data, size));
  resnet::fuzz::expect_refusal_or_success([&] {
    resnet::StateDict tensors = resnet::load_safetensors(path);
    resnet::take_int8_calibration(tensors, resnet::load_safetensors_metadata(path), path);
  });
  return 0;
}
