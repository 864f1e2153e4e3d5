// CIFAR-10 and CIFAR-100 binary files (src/io/cifar.cpp): the same bytes read as each.
#include "fuzz_files.h"
#include "io/cifar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = resnet::fuzz::write_scratch_file("input.bin", resnet::fuzz::as_text(data, size));
  for (const resnet::CifarFormat* format : {&resnet::kCifar10, &resnet::kCifar100})
    resnet::fuzz::expect_refusal_or_success([&] { resnet::read_cifar({path}, *format); });
  return 0;
}
