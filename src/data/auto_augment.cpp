#include "data/auto_augment.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "resnet/error.h"

namespace resnet {
namespace {

constexpr int kBins = 31;

// torch.linspace(start, end, 31)[k] in float32, as torch 1.13's CPU kernel (AVX2 build, FMA-contracted)
// computes it, returned as Python's float(tensor.item()): values 0..15 come in two 8-lane vectors, each
// `base + i * step` (the product rounded, then added) from base = start + step * first index (even 15,
// past the halfway point); values 16..30
// from the scalar tail, `end - step * (30 - k)`. Each multiply-add rounds once.
double linspace_bin(double start, double end, int k) {
  const float s = float(start), e = float(end);
  const float step = (e - s) / float(kBins - 1);
  constexpr int kLanes = 8;
  if (k < 2 * kLanes) {
    const int first = k / kLanes * kLanes;
    const float base = std::fmaf(step, float(first), s);
    const float offset = float(k - first) * step;  // rounded, then added (not contracted in arange)
    return double(base + offset);
  }
  return double(std::fmaf(-step, float(kBins - 1 - k), e));
}

// 8 - (arange(31) / ((31 - 1) / levels)).round().int(): posterize bits of bin k (levels 4: RA, 6: TA-wide).
double posterize_bin(int k, double levels) {
  return 8.0 - std::nearbyint(float(k) / float(double(kBins - 1) / levels));
}

// PIL's Image.transform(size, AFFINE, m, NEAREST) with fill 0: output pixel (x, y) reads input pixel
// floor(m·(x + 0.5, y + 0.5, 1)), 0 outside. PIL steps in 16.16 fixed point across a row (affine_fixed) when,
// as for every image here, the coordinates fit; a pure scale/translate matrix takes its ImagingScaleAffine
// path, which rounds the same way for the integer translations used here.
Image pil_affine_nearest(const Image& in, const std::array<double, 6>& m) {
  Image out(in.height, in.width, in.channels);
  auto fix = [](double v) { return int64_t(std::floor(v * 65536.0 + 0.5)); };
  const int64_t a0 = fix(m[0]), a1 = fix(m[1]), a3 = fix(m[3]), a4 = fix(m[4]);
  int64_t a2 = fix(m[2] + m[0] * 0.5 + m[1] * 0.5);
  int64_t a5 = fix(m[5] + m[3] * 0.5 + m[4] * 0.5);
  const size_t c = size_t(in.channels);
  for (int y = 0; y < in.height; ++y) {
    int64_t xx = a2, yy = a5;
    for (int x = 0; x < in.width; ++x) {
      const int64_t xin = xx >> 16, yin = yy >> 16;
      if (xin >= 0 && xin < in.width && yin >= 0 && yin < in.height)
        std::copy_n(in.at(int(yin), int(xin)), c, out.at(y, x));
      xx += a0;
      yy += a3;
    }
    a2 += a1;
    a5 += a4;
  }
  return out;
}

// torchvision's _get_inverse_affine_matrix(center, angle, translate, scale=1, shear) in degrees.
std::array<double, 6> inverse_affine(double cx, double cy, double angle, double tx, double ty, double shear_x,
                                     double shear_y) {
  const double rot = angle * M_PI / 180.0, sx = shear_x * M_PI / 180.0, sy = shear_y * M_PI / 180.0;
  const double a = std::cos(rot - sy) / std::cos(sy);
  const double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  const double c = std::sin(rot - sy) / std::cos(sy);
  const double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  std::array<double, 6> m{d, -b, 0.0, -c, a, 0.0};
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
  return m;
}

// Python's round(x, 15).
double round15(double x) {
  return std::nearbyint(x * 1e15) / 1e15;
}

// PIL's Image.rotate(angle, NEAREST) about the centre (w/2, h/2), same size, fill 0.
Image pil_rotate(const Image& in, double degrees) {
  const double angle = std::fmod(std::fmod(degrees, 360.0) + 360.0, 360.0);
  if (angle == 0.0) return in;
  const double r = -angle * M_PI / 180.0;
  std::array<double, 6> m{round15(std::cos(r)),  round15(std::sin(r)), 0.0,
                          round15(-std::sin(r)), round15(std::cos(r)), 0.0};
  const double cx = in.width / 2.0, cy = in.height / 2.0;
  m[2] = m[0] * -cx + m[1] * -cy + cx;
  m[5] = m[3] * -cx + m[4] * -cy + cy;
  // PIL's shortcuts for 180 (and 90/270 on a square image) are exact transposes; the matrix gives the same
  // pixels up to the rounding of sin/cos, so the transposes are taken as PIL takes them.
  if (angle == 180.0 || ((angle == 90.0 || angle == 270.0) && in.width == in.height)) {
    Image out(in.height, in.width, in.channels);
    for (int y = 0; y < in.height; ++y) {
      for (int x = 0; x < in.width; ++x) {
        const int sx = angle == 180.0 ? in.width - 1 - x : angle == 90.0 ? in.width - 1 - y : y;
        const int sy = angle == 180.0 ? in.height - 1 - y : angle == 90.0 ? x : in.height - 1 - x;
        std::copy_n(in.at(sy, sx), size_t(in.channels), out.at(y, x));
      }
    }
    return out;
  }
  return pil_affine_nearest(in, m);
}

// PIL's Image.blend(degenerate, image, factor) on u8: in float, truncated (clamped when factor is outside
// [0, 1]).
Image pil_blend(const Image& degenerate, const Image& image, double factor) {
  Image out(image.height, image.width, image.channels);
  const float alpha = float(factor);
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    const float v =
        float(degenerate.pixels[i]) + alpha * float(int(image.pixels[i]) - int(degenerate.pixels[i]));
    out.pixels[i] = alpha >= 0.0f && alpha <= 1.0f ? uint8_t(v)
                    : v <= 0.0f                    ? 0
                    : v >= 255.0f                  ? 255
                                                   : uint8_t(v);
  }
  return out;
}

// PIL's "L" image of `image` (ITU-R 601 luma, its integer formula), as `image`'s channels (L -> RGB
// replicates).
Image gray_as(const Image& image) {
  if (image.channels == 1) return image;
  return convert_channels(convert_channels(image, 1), image.channels);
}

// ImageEnhance.Contrast's degenerate: the mean of the L image, int(mean + 0.5), everywhere.
Image contrast_degenerate(const Image& image) {
  const Image gray = image.channels == 1 ? image : convert_channels(image, 1);
  double sum = 0.0;
  for (uint8_t v : gray.pixels) sum += v;
  const int mean = int(sum / double(gray.pixels.size()) + 0.5);
  Image out(image.height, image.width, image.channels);
  std::fill(out.pixels.begin(), out.pixels.end(), uint8_t(mean));
  return out;
}

// ImageFilter.SMOOTH (3x3, 1 1 1 / 1 5 1 / 1 1 1, /13) as PIL's filter3x3: float sums rounded, the 1-pixel
// border copied from the image.
Image smooth(const Image& in) {
  Image out = in;
  const float k = 1.0f / 13.0f, centre = 5.0f / 13.0f;
  const int c = in.channels;
  for (int y = 1; y + 1 < in.height; ++y) {
    for (int x = 1; x + 1 < in.width; ++x) {
      for (int ch = 0; ch < c; ++ch) {
        float ss = 0.0f;
        for (int dy : {1, 0, -1}) {
          ss += float(in.at(y + dy, x - 1)[ch]) * k + float(in.at(y + dy, x)[ch]) * (dy == 0 ? centre : k) +
                float(in.at(y + dy, x + 1)[ch]) * k;
        }
        out.at(y, x)[ch] = ss <= 0.0f ? 0 : ss >= 255.0f ? 255 : uint8_t(ss + 0.5f);
      }
    }
  }
  return out;
}

Image apply_lut(const Image& in, const std::array<uint8_t, 256>& lut) {
  Image out = in;
  for (uint8_t& v : out.pixels) v = lut[v];
  return out;
}

// Per-channel tables (ImageOps works band by band).
template <class MakeLut>
Image per_channel(const Image& in, MakeLut make_lut) {
  Image out = in;
  const size_t c = size_t(in.channels);
  for (size_t ch = 0; ch < c; ++ch) {
    std::array<int64_t, 256> hist{};
    for (size_t i = ch; i < in.pixels.size(); i += c) ++hist[in.pixels[i]];
    const std::array<uint8_t, 256> lut = make_lut(hist);
    for (size_t i = ch; i < in.pixels.size(); i += c) out.pixels[i] = lut[in.pixels[i]];
  }
  return out;
}

std::array<uint8_t, 256> identity_lut() {
  std::array<uint8_t, 256> lut{};
  for (int i = 0; i < 256; ++i) lut[size_t(i)] = uint8_t(i);
  return lut;
}

// ImageOps.autocontrast(cutoff=0): the lowest and highest used levels stretched to 0 and 255.
std::array<uint8_t, 256> autocontrast_lut(const std::array<int64_t, 256>& h) {
  int lo = 0, hi = 255;
  while (lo < 256 && h[size_t(lo)] == 0) ++lo;
  while (hi >= 0 && h[size_t(hi)] == 0) --hi;
  if (hi <= lo) return identity_lut();
  const double scale = 255.0 / (hi - lo), offset = -lo * scale;
  std::array<uint8_t, 256> lut{};
  for (int i = 0; i < 256; ++i) lut[size_t(i)] = uint8_t(std::clamp(int(i * scale + offset), 0, 255));
  return lut;
}

// ImageOps.equalize (Pillow 9.4): the cumulative histogram in steps of (total - last used bin's count) / 255.
std::array<uint8_t, 256> equalize_lut(const std::array<int64_t, 256>& h) {
  int64_t total = 0, last = 0, used = 0;
  for (int64_t v : h) {
    if (v == 0) continue;
    total += v;
    last = v;
    ++used;
  }
  if (used <= 1) return identity_lut();
  const int64_t step = (total - last) / 255;
  if (step == 0) return identity_lut();
  std::array<uint8_t, 256> lut{};
  int64_t n = step / 2;
  for (int i = 0; i < 256; ++i) {
    lut[size_t(i)] = uint8_t(std::min<int64_t>(n / step, 255));
    n += h[size_t(i)];
  }
  return lut;
}

struct OpSpace {
  AugmentOp op;
  bool has_bins;  // false: magnitude 0 (torch.tensor(0.0))
  bool signed_;
};

// torchvision 0.14's _augmentation_space order (both policies list the same 14 operations).
constexpr std::array<OpSpace, 14> kOps = {{{AugmentOp::identity, false, false},
                                           {AugmentOp::shear_x, true, true},
                                           {AugmentOp::shear_y, true, true},
                                           {AugmentOp::translate_x, true, true},
                                           {AugmentOp::translate_y, true, true},
                                           {AugmentOp::rotate, true, true},
                                           {AugmentOp::brightness, true, true},
                                           {AugmentOp::color, true, true},
                                           {AugmentOp::contrast, true, true},
                                           {AugmentOp::sharpness, true, true},
                                           {AugmentOp::posterize, true, false},
                                           {AugmentOp::solarize, true, false},
                                           {AugmentOp::autocontrast, false, false},
                                           {AugmentOp::equalize, false, false}}};

// The magnitude of bin k: TrivialAugmentWide's (wide = true) or RandAugment's space for an image H x W.
double bin_magnitude(AugmentOp op, int k, bool wide, int height, int width) {
  switch (op) {
    case AugmentOp::shear_x:
    case AugmentOp::shear_y:
      return linspace_bin(0.0, wide ? 0.99 : 0.3, k);
    case AugmentOp::translate_x:
      return linspace_bin(0.0, wide ? 32.0 : 150.0 / 331.0 * width, k);
    case AugmentOp::translate_y:
      return linspace_bin(0.0, wide ? 32.0 : 150.0 / 331.0 * height, k);
    case AugmentOp::rotate:
      return linspace_bin(0.0, wide ? 135.0 : 30.0, k);
    case AugmentOp::brightness:
    case AugmentOp::color:
    case AugmentOp::contrast:
    case AugmentOp::sharpness:
      return linspace_bin(0.0, wide ? 0.99 : 0.9, k);
    case AugmentOp::posterize:
      return posterize_bin(k, wide ? 6.0 : 4.0);
    case AugmentOp::solarize:
      return linspace_bin(255.0, 0.0, k);
    default:
      return 0.0;
  }
}

}  // namespace

Image apply_augment_op(const Image& image, AugmentOp op, double magnitude) {
  constexpr double kDegrees = 180.0 / M_PI;
  switch (op) {
    case AugmentOp::identity:
      return image;
    case AugmentOp::shear_x:
      return pil_affine_nearest(image, inverse_affine(0, 0, 0, 0, 0, std::atan(magnitude) * kDegrees, 0));
    case AugmentOp::shear_y:
      return pil_affine_nearest(image, inverse_affine(0, 0, 0, 0, 0, 0, std::atan(magnitude) * kDegrees));
    case AugmentOp::translate_x:
    case AugmentOp::translate_y: {
      const double t = double(int(magnitude));
      const bool x = op == AugmentOp::translate_x;
      return pil_affine_nearest(
          image, inverse_affine(image.width * 0.5, image.height * 0.5, 0, x ? t : 0, x ? 0 : t, 0, 0));
    }
    case AugmentOp::rotate:
      return pil_rotate(image, magnitude);
    case AugmentOp::brightness:
      return pil_blend(Image(image.height, image.width, image.channels), image, 1.0 + magnitude);
    case AugmentOp::color:
      return pil_blend(gray_as(image), image, 1.0 + magnitude);
    case AugmentOp::contrast:
      return pil_blend(contrast_degenerate(image), image, 1.0 + magnitude);
    case AugmentOp::sharpness:
      return pil_blend(smooth(image), image, 1.0 + magnitude);
    case AugmentOp::posterize: {
      const int bits = int(magnitude);
      const uint8_t mask = uint8_t(~((1 << (8 - bits)) - 1));
      std::array<uint8_t, 256> lut{};
      for (int i = 0; i < 256; ++i) lut[size_t(i)] = uint8_t(i & mask);
      return apply_lut(image, lut);
    }
    case AugmentOp::solarize: {
      std::array<uint8_t, 256> lut{};
      for (int i = 0; i < 256; ++i) lut[size_t(i)] = uint8_t(i < magnitude ? i : 255 - i);
      return apply_lut(image, lut);
    }
    case AugmentOp::autocontrast:
      return per_channel(image, autocontrast_lut);
    case AugmentOp::equalize:
      return per_channel(image, equalize_lut);
  }
  return image;
}

double augment_bin_magnitude(const std::string& policy, AugmentOp op, int bin, int height, int width) {
  return bin_magnitude(op, bin, policy == "ta_wide", height, width);
}

void check_auto_augment_policy(const std::string& policy) {
  if (policy.empty() || policy == "none" || policy == "ta_wide" || policy == "ra") return;
  throw InputError(fmt::format("--auto-augment {}: expected ta_wide, ra or none", policy));
}

Image auto_augment(const Image& image, const std::string& policy, Rng& rng) {
  if (policy.empty() || policy == "none") return image;
  const bool wide = policy == "ta_wide";
  // TrivialAugmentWide: one operation at a uniform bin; RandAugment: two at bin 9.
  const int num_ops = wide ? 1 : 2;
  Image out = image;
  for (int i = 0; i < num_ops; ++i) {
    const OpSpace& space = kOps[rng.below(kOps.size())];
    double magnitude = 0.0;
    if (space.has_bins) {
      const int bin = wide ? int(rng.below(kBins)) : 9;
      magnitude = bin_magnitude(space.op, bin, wide, out.height, out.width);
    }
    if (space.signed_ && rng.below(2) == 1) magnitude = -magnitude;
    out = apply_augment_op(out, space.op, magnitude);
  }
  return out;
}

}  // namespace resnet
