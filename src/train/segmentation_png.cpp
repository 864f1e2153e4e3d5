// Segmentation pictures: palette mask PNGs and overlays with a legend (see train/segmentation_png.h).
#include "train/segmentation_png.h"

#include <cairo.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "io/atomic_file.h"
#include "io/image.h"
#include "resnet/error.h"
#include "resnet/segmentation_loss.h"
#include "train/cairo_png.h"

namespace resnet {
namespace {

constexpr int kMinSide = 224;         // smaller images are scaled up to at least this
constexpr double kMaskOpacity = 0.5;  // of the class colour over the image

using Surface = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;
using Context = std::unique_ptr<cairo_t, decltype(&cairo_destroy)>;

// The classes to list: present in the mask, not 0, not the ignore index, in class order.
std::vector<int> legend_classes(const Image& mask, int ignore_index) {
  std::array<bool, 256> seen{};
  for (const uint8_t v : mask.pixels) seen[v] = true;
  std::vector<int> out;
  for (int c = 1; c < 256; ++c)
    if (seen[size_t(c)] && c != ignore_index) out.push_back(c);
  return out;
}

// The image (nearest, `scale` times) with the mask's colours blended over it, into the RGB24 surface's
// top-left corner.
void paint_overlay(cairo_surface_t* surface, const Image& image, const Image& mask, int scale,
                   int ignore_index) {
  unsigned char* data = cairo_image_surface_get_data(surface);
  const int stride = cairo_image_surface_get_stride(surface);
  const auto& palette = segmentation_palette();
  for (int py = 0; py < image.height * scale; ++py) {
    auto* row = reinterpret_cast<uint32_t*>(data + py * stride);
    for (int px = 0; px < image.width * scale; ++px) {
      const uint8_t* p = image.at(py / scale, px / scale);
      uint32_t rgb[3] = {p[0], p[image.channels >= 3 ? 1 : 0], p[image.channels >= 3 ? 2 : 0]};
      const uint8_t c = *mask.at(py / scale, px / scale);
      if (c != 0 && c != ignore_index) {
        for (int k = 0; k < 3; ++k)
          rgb[k] = uint32_t(std::lround((1 - kMaskOpacity) * rgb[k] + kMaskOpacity * palette[c][size_t(k)]));
      }
      row[px] = rgb[0] << 16 | rgb[1] << 8 | rgb[2];
    }
  }
  cairo_surface_mark_dirty(surface);
}

struct LegendLayout {
  double font_size, row_height, swatch, padding, width;
};

LegendLayout measure_legend(const std::vector<int>& classes, const std::vector<std::string>& names,
                            int height) {
  Surface probe(cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1), cairo_surface_destroy);
  Context cr(cairo_create(probe.get()), cairo_destroy);
  LegendLayout layout;
  layout.font_size = std::max(11.0, height / 20.0);
  layout.row_height = layout.font_size * 1.6;
  layout.swatch = layout.font_size;
  layout.padding = layout.font_size * 0.6;
  cairo_select_font_face(cr.get(), "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr.get(), layout.font_size);
  double text = 0;
  for (const int c : classes) {
    cairo_text_extents_t e;
    cairo_text_extents(cr.get(), names[size_t(c)].c_str(), &e);
    text = std::max(text, e.x_advance);
  }
  if (classes.empty()) text = layout.font_size * 8;  // "background only"
  layout.width = layout.padding * 3 + layout.swatch + text;
  return layout;
}

void draw_legend(cairo_t* cr, const LegendLayout& layout, const std::vector<int>& classes,
                 const std::vector<std::string>& names, double left, int height) {
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_rectangle(cr, left, 0, layout.width, height);
  cairo_fill(cr);
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, layout.font_size);
  const auto& palette = segmentation_palette();
  double y = layout.padding;
  if (classes.empty()) {
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, left + layout.padding, y + layout.font_size);
    cairo_show_text(cr, "background only");
  }
  for (const int c : classes) {
    cairo_set_source_rgb(cr, palette[size_t(c)][0] / 255.0, palette[size_t(c)][1] / 255.0,
                         palette[size_t(c)][2] / 255.0);
    cairo_rectangle(cr, left + layout.padding, y, layout.swatch, layout.swatch);
    cairo_fill(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_move_to(cr, left + layout.padding * 2 + layout.swatch, y + layout.swatch * 0.85);
    cairo_show_text(cr, names[size_t(c)].c_str());
    y += layout.row_height;
  }
}

}  // namespace

const std::array<Rgb8, 256>& segmentation_palette() {
  static const std::array<Rgb8, 256> palette = [] {
    std::array<Rgb8, 256> p{};
    for (int c = 0; c < 256; ++c) {
      int r = 0, g = 0, b = 0;
      for (int bit = 0, v = c; bit < 8; ++bit, v >>= 3) {
        r |= ((v >> 0) & 1) << (7 - bit);
        g |= ((v >> 1) & 1) << (7 - bit);
        b |= ((v >> 2) & 1) << (7 - bit);
      }
      p[size_t(c)] = {uint8_t(r), uint8_t(g), uint8_t(b)};
    }
    return p;
  }();
  return palette;
}

Image mask_from_logits(const Tensor& logits, int64_t n) {
  if (logits.rank() != 4 || n < 0 || n >= logits.dim(0)) {
    throw InputError(fmt::format("mask_from_logits: sample {} of logits {}", n, shape_str(logits.shape())));
  }
  const Tensor classes = predict_classes(logits);
  Image mask(int(logits.dim(1)), int(logits.dim(2)), 1);
  const uint8_t* first = classes.data_as<uint8_t>() + n * int64_t(mask.pixels.size());
  std::copy_n(first, mask.pixels.size(), mask.pixels.data());
  return mask;
}

void write_mask_png(const Image& mask, const std::string& path) {
  if (mask.channels != 1)
    throw InputError(fmt::format("{}: a mask has 1 channel, not {}", path, mask.channels));
  write_file_atomic(path, encode_palette_png(mask, segmentation_palette()));
}

void write_segmentation_overlay_png(const Image& image, const Image& mask,
                                    const std::vector<std::string>& class_names, const std::string& path,
                                    int ignore_index) {
  if ((image.channels != 1 && image.channels != 3) || mask.channels != 1 || mask.height != image.height ||
      mask.width != image.width) {
    throw InputError(
        fmt::format("{}: expected an image [H,W,1 or 3] and a mask [H,W,1] of its size, got "
                    "[{},{},{}] and [{},{},{}]",
                    path, image.height, image.width, image.channels, mask.height, mask.width, mask.channels));
  }
  const std::vector<int> classes = legend_classes(mask, ignore_index);
  for (const int c : classes) {
    if (size_t(c) >= class_names.size()) {
      throw InputError(fmt::format("{}: the mask has class {}, but there are only {} class names", path, c,
                                   class_names.size()));
    }
  }
  const int shorter = std::min(image.height, image.width);
  const int scale = shorter >= kMinSide ? 1 : (kMinSide + shorter - 1) / shorter;
  const int picture_w = image.width * scale, picture_h = image.height * scale;
  const LegendLayout layout = measure_legend(classes, class_names, picture_h);
  const int legend_h =
      int(std::ceil(layout.padding * 2 + layout.row_height * double(std::max<size_t>(classes.size(), 1))));
  const int width = picture_w + int(std::ceil(layout.width)), height = std::max(picture_h, legend_h);
  Surface surface(cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height), cairo_surface_destroy);
  Context cr(cairo_create(surface.get()), cairo_destroy);
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_paint(cr.get());
  cairo_surface_flush(surface.get());
  paint_overlay(surface.get(), image, mask, scale, ignore_index);
  draw_legend(cr.get(), layout, classes, class_names, picture_w, height);
  write_cairo_png(surface.get(), path);
}

}  // namespace resnet
