// IDX files (src/io/idx.cpp), plain and gzipped (by content: the gzip magic 1f 8b), as the MNIST and
// Fashion-MNIST datasets read them.
#include "fuzz_files.h"
#include "io/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = resnet::fuzz::write_scratch_file("input.idx", resnet::fuzz::as_text(data, size));
  resnet::fuzz::expect_refusal_or_success([&] { resnet::read_idx(path); });
  return 0;
}
