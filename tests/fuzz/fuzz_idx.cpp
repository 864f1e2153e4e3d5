// IDX files (src/io/idx.cpp), plain and gzipped (by content: the gzip magic 1f 8b), as read_idx reads them
// for the MNIST and Fashion-MNIST datasets (from memory: the same code after the file is read).
#include <vector>

#include "fuzz_files.h"
#include "io/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  resnet::fuzz::expect_refusal_or_success(
      [&] { resnet::parse_idx_file(std::vector<uint8_t>(data, data + size), "input.idx"); });
  return 0;
}
