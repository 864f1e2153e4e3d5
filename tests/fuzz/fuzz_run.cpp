// A run folder as `resnet train --resume` (and predict/explain beside their weights) reads it
// (src/train/checkpoint.cpp): config.json and state.safetensors. The input is
//   [u32 LE n][n bytes: config.json][the rest: state.safetensors]
// (tests/fuzz/seeds/run.py writes valid ones); each file is parsed on its own, so a refused config.json does
// not hide the state's parser.
#include <cstring>

#include "fuzz_files.h"
#include "train/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t config_size = 0;
  for (int i = 3; i >= 0; --i) config_size = (config_size << 8) | data[i];
  const std::string_view rest = resnet::fuzz::as_text(data + 4, size - 4);
  const std::string_view config = rest.substr(0, config_size);
  const std::string_view state = rest.substr(config.size());
  resnet::fuzz::write_scratch_file("config.json", config);
  resnet::fuzz::write_scratch_file("state.safetensors", state);

  const resnet::RunFiles files(resnet::fuzz::scratch_dir().string());
  resnet::fuzz::expect_refusal_or_success([&] { resnet::read_run_config(files); });
  resnet::fuzz::expect_refusal_or_success([&] { resnet::read_run_dataset_info(files); });
  resnet::fuzz::expect_refusal_or_success([&] { resnet::load_run_state(files); });
  return 0;
}
