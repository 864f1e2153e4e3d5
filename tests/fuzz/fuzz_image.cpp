// JPEG and PNG decoding through the project's own path (src/io/image.cpp): decode_image as `resnet predict`
// and the image-folder datasets use it (then converted to RGB and to gray), and decode_index_png as
// segmentation masks are read.
#include "fuzz_files.h"
#include "io/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  resnet::fuzz::expect_refusal_or_success([&] {
    const resnet::Image image = resnet::decode_image(data, size, "input");
    resnet::convert_channels(image, 3);
    resnet::convert_channels(image, 1);
  });
  resnet::fuzz::expect_refusal_or_success([&] { resnet::decode_index_png(data, size, "input.png"); });
  return 0;
}
