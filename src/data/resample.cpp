// Bilinear resizing exactly as PIL's Image.resize(BILINEAR) on 8-bit images (libImaging/Resample.c), which is
// what torchvision's Resize and RandomResizedCrop do to PIL images: a separable triangle filter whose support
// widens with the scale factor when shrinking (antialiasing), fixed-point coefficients with 22 fractional
// bits, horizontal pass then vertical pass, each rounded to 8 bits.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "resnet/data.h"
#include "resnet/error.h"

namespace resnet {
namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

// For each output index: the first input index, the number of taps, and the taps' fixed-point weights.
struct Coefficients {
  int taps_max = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // [out_size, taps_max]
};

double triangle(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

Coefficients precompute(int in_size, int out_size) {
  const double scale = double(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);
  const double support = 1.0 * filter_scale;  // the bilinear filter's support is 1
  Coefficients c;
  c.taps_max = static_cast<int>(std::ceil(support)) * 2 + 1;
  c.first.resize(size_t(out_size));
  c.count.resize(size_t(out_size));
  c.weights.assign(size_t(out_size) * size_t(c.taps_max), 0);
  std::vector<double> w(size_t(c.taps_max));
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    double total = 0.0;
    for (int i = lo; i < hi; ++i) total += w[size_t(i - lo)] = triangle((i - center + 0.5) / filter_scale);
    for (int i = lo; i < hi; ++i) {
      const double k = total != 0.0 ? w[size_t(i - lo)] / total : w[size_t(i - lo)];
      c.weights[size_t(o) * size_t(c.taps_max) + size_t(i - lo)] =
          static_cast<int32_t>(k < 0 ? -0.5 + k * (1 << kPrecisionBits) : 0.5 + k * (1 << kPrecisionBits));
    }
    c.first[size_t(o)] = lo;
    c.count[size_t(o)] = hi - lo;
  }
  return c;
}

uint8_t clip8(int32_t accumulated) {
  return static_cast<uint8_t>(std::clamp(accumulated >> kPrecisionBits, 0, 255));
}

// in [rows, in_w, C] -> [rows, out_w, C], rows starting at `row0` of `in`. Integer sums: any order of the
// taps gives PIL's result exactly, so the loops are arranged for speed (all channels of a pixel at once).
template <int C>
void resample_rows_horizontal(const Image& in, int row0, Image& out, const Coefficients& c) {
  const size_t in_row = size_t(in.width) * C;
  for (int y = 0; y < out.height; ++y) {
    const uint8_t* src_row = in.pixels.data() + size_t(row0 + y) * in_row;
    uint8_t* d = out.at(y, 0);
    for (int x = 0; x < out.width; ++x, d += C) {
      const int32_t* k = c.weights.data() + size_t(x) * size_t(c.taps_max);
      const uint8_t* src = src_row + size_t(c.first[size_t(x)]) * C;
      int32_t acc[C];
      for (int ch = 0; ch < C; ++ch) acc[ch] = 1 << (kPrecisionBits - 1);
      for (int t = 0, taps = c.count[size_t(x)]; t < taps; ++t, src += C)
        for (int ch = 0; ch < C; ++ch) acc[ch] += src[ch] * k[t];
      for (int ch = 0; ch < C; ++ch) d[ch] = clip8(acc[ch]);
    }
  }
}

Image resample_horizontal(const Image& in, int row0, int rows, int out_w, const Coefficients& c) {
  Image out(rows, out_w, in.channels);
  switch (in.channels) {
    case 1:
      resample_rows_horizontal<1>(in, row0, out, c);
      break;
    case 2:
      resample_rows_horizontal<2>(in, row0, out, c);
      break;
    case 3:
      resample_rows_horizontal<3>(in, row0, out, c);
      break;
    case 4:
      resample_rows_horizontal<4>(in, row0, out, c);
      break;
    default:
      throw InternalError("resize: " + std::to_string(in.channels) + " channels (expected 1 to 4)");
  }
  return out;
}

// in [in_h, W, C] -> [out_h, W, C]; `first` of the coefficients counts from `row0`. Whole rows at a time: the
// inner loop runs along a row (contiguous, vectorised) and the taps outside it.
Image resample_vertical(const Image& in, int row0, int out_h, const Coefficients& c) {
  Image out(out_h, in.width, in.channels);
  const size_t row = size_t(in.width) * size_t(in.channels);
  std::vector<int32_t> acc(row);
  for (int y = 0; y < out_h; ++y) {
    const int32_t* k = c.weights.data() + size_t(y) * size_t(c.taps_max);
    const uint8_t* src = in.pixels.data() + size_t(c.first[size_t(y)] - row0) * row;
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int t = 0; t < c.count[size_t(y)]; ++t) {
      const uint8_t* s = src + size_t(t) * row;
      const int32_t w = k[t];
      for (size_t i = 0; i < row; ++i) acc[i] += s[i] * w;
    }
    uint8_t* d = out.at(y, 0);
    for (size_t i = 0; i < row; ++i) d[i] = clip8(acc[i]);
  }
  return out;
}

}  // namespace

Image resize_image(const Image& image, int height, int width) {
  if (height <= 0 || width <= 0) {
    throw InputError("resize: the output size must be positive, got " + std::to_string(height) + "x" +
                     std::to_string(width));
  }
  if (image.height <= 0 || image.width <= 0) throw InputError("resize: the image is empty");
  if (height == image.height && width == image.width) return image;
  const Coefficients horizontal = precompute(image.width, width);
  const Coefficients vertical = precompute(image.height, height);
  if (width == image.width) return resample_vertical(image, 0, height, vertical);
  // Only the rows the vertical pass reads go through the horizontal pass.
  const int first_row = vertical.first.front();
  const int last_row = vertical.first.back() + vertical.count.back();
  Image narrowed = resample_horizontal(image, first_row, last_row - first_row, width, horizontal);
  if (height == image.height) return narrowed;
  return resample_vertical(narrowed, first_row, height, vertical);
}

// torchvision's _compute_resized_output_size for an int size: the shorter side becomes `size`, the longer
// int(size * long / short).
Image resize_shorter_side(const Image& image, int size) {
  const bool portrait = image.width <= image.height;
  const int shorter = portrait ? image.width : image.height;
  const int longer = portrait ? image.height : image.width;
  if (shorter <= 0) throw InputError("resize: the image is empty");
  const int scaled = static_cast<int>(double(int64_t(size) * longer) / shorter);
  return portrait ? resize_image(image, scaled, size) : resize_image(image, size, scaled);
}

}  // namespace resnet
