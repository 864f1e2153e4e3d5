#include "train/cairo_png.h"

#include <fmt/format.h>

#include "io/atomic_file.h"
#include "resnet/error.h"

namespace resnet {

void write_cairo_png(cairo_surface_t* surface, const std::string& path) {
  cairo_surface_flush(surface);
  std::string bytes;
  auto append = [](void* closure, const unsigned char* data, unsigned int length) {
    static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
    return CAIRO_STATUS_SUCCESS;
  };
  const cairo_status_t status = cairo_surface_write_to_png_stream(surface, append, &bytes);
  if (status != CAIRO_STATUS_SUCCESS) {
    throw InputError(fmt::format("{}: cannot encode the PNG ({})", path, cairo_status_to_string(status)));
  }
  write_file_atomic(path, bytes);
}

}  // namespace resnet
