// A Grad-CAM map drawn over its image with Cairo: turbo colours blended over the pixels, the caption in a
// band at the top (see resnet/grad_cam.h).
#include <cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <tuple>

#include "resnet/error.h"
#include "resnet/grad_cam.h"
#include "train/cairo_png.h"

namespace resnet {
namespace {

constexpr int kMinSide = 224;         // smaller inputs are scaled up to at least this
constexpr double kMapOpacity = 0.5;   // of the colour map over the image
constexpr double kBandOpacity = 0.6;  // of the caption's dark band

struct Rgb {
  double r, g, b;
};

// Google's turbo colour map (Mikhailov 2019) as its published polynomial approximation, v in [0,1].
Rgb turbo(double v) {
  const double x = std::clamp(v, 0.0, 1.0), x2 = x * x, x3 = x2 * x, x4 = x2 * x2, x5 = x4 * x;
  auto poly = [&](double c0, double c1, double c2, double c3, double c4, double c5) {
    return std::clamp(c0 + c1 * x + c2 * x2 + c3 * x3 + c4 * x4 + c5 * x5, 0.0, 1.0);
  };
  return {poly(0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943),
          poly(0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604),
          poly(0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973)};
}

// cam [H,W] at the centre of picture pixel (px, py) of a picture `scale` times larger: bilinear, edges
// clamped.
double sample_map(const Tensor& cam, int64_t px, int64_t py, int scale) {
  const int64_t h = cam.dim(0), w = cam.dim(1);
  auto source = [&](int64_t i, int64_t n) {
    const double s = std::clamp((double(i) + 0.5) / scale - 0.5, 0.0, double(n - 1));
    const int64_t i0 = int64_t(s);
    return std::make_tuple(i0, std::min(i0 + 1, n - 1), s - double(i0));
  };
  const auto [y0, y1, wy] = source(py, h);
  const auto [x0, x1, wx] = source(px, w);
  const float* m = cam.f32();
  const double top = m[y0 * w + x0] * (1 - wx) + m[y0 * w + x1] * wx;
  const double bottom = m[y1 * w + x0] * (1 - wx) + m[y1 * w + x1] * wx;
  return top * (1 - wy) + bottom * wy;
}

// The image (nearest) with the map blended over it, into an RGB24 surface `scale` times the image's size.
void paint_blend(cairo_surface_t* surface, const Tensor& pixels, const Tensor& cam, int scale) {
  const int64_t h = pixels.dim(0), w = pixels.dim(1), channels = pixels.dim(2);
  unsigned char* data = cairo_image_surface_get_data(surface);
  const int stride = cairo_image_surface_get_stride(surface);
  for (int64_t py = 0; py < h * scale; ++py) {
    auto* row = reinterpret_cast<uint32_t*>(data + py * stride);
    for (int64_t px = 0; px < w * scale; ++px) {
      const float* p = pixels.f32() + ((py / scale) * w + px / scale) * channels;
      const Rgb image{p[0], p[channels == 3 ? 1 : 0], p[channels == 3 ? 2 : 0]};
      const Rgb heat = turbo(sample_map(cam, px, py, scale));
      auto blend = [](double a, double b) {
        const double v = (1 - kMapOpacity) * std::clamp(a, 0.0, 1.0) + kMapOpacity * b;
        return uint32_t(std::lround(v * 255.0));
      };
      row[px] = blend(image.r, heat.r) << 16 | blend(image.g, heat.g) << 8 | blend(image.b, heat.b);
    }
  }
  cairo_surface_mark_dirty(surface);
}

void draw_caption(cairo_t* cr, const std::string& caption, int width) {
  const double size = std::max(11.0, width / 20.0);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
  cairo_set_font_size(cr, size);
  cairo_font_extents_t fe;
  cairo_font_extents(cr, &fe);
  const double band = fe.height + size * 0.5;
  cairo_set_source_rgba(cr, 0, 0, 0, kBandOpacity);
  cairo_rectangle(cr, 0, 0, width, band);
  cairo_fill(cr);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_move_to(cr, size * 0.4, (band - fe.height) / 2 + fe.ascent);
  cairo_show_text(cr, caption.c_str());
}

}  // namespace

void write_grad_cam_png(const Tensor& pixels, const Tensor& cam, const std::string& caption,
                        const std::string& path) {
  if (pixels.rank() != 3 || (pixels.dim(2) != 1 && pixels.dim(2) != 3) || pixels.dtype() != DType::f32 ||
      cam.rank() != 2 || cam.dim(0) != pixels.dim(0) || cam.dim(1) != pixels.dim(1)) {
    throw InputError(fmt::format("{}: expected an f32 image [H,W,1 or 3] and a map [H,W], got {} and {}",
                                 path, shape_str(pixels.shape()), shape_str(cam.shape())));
  }
  const int64_t shorter = std::min(pixels.dim(0), pixels.dim(1));
  const int scale = shorter >= kMinSide ? 1 : int((kMinSide + shorter - 1) / shorter);
  const int width = int(pixels.dim(1)) * scale, height = int(pixels.dim(0)) * scale;
  std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)> surface(
      cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height), cairo_surface_destroy);
  std::unique_ptr<cairo_t, decltype(&cairo_destroy)> cr(cairo_create(surface.get()), cairo_destroy);
  cairo_surface_flush(surface.get());
  paint_blend(surface.get(), pixels, cam, scale);
  draw_caption(cr.get(), caption, width);
  write_cairo_png(surface.get(), path);
}

}  // namespace resnet
