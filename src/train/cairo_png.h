// A Cairo image surface to a PNG file: encoded in memory, written atomically (the charts and Grad-CAM maps).
#pragma once

#include <cairo.h>

#include <string>

namespace resnet {

// Throws InputError naming `path` when encoding or writing fails.
void write_cairo_png(cairo_surface_t* surface, const std::string& path);

}  // namespace resnet
