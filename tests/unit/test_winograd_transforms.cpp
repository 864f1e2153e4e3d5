// Winograd F(4x4, 3x3): the transforms with a plain matrix product give a direct 3x3 pad-1 convolution (bias,
// residual sum, ReLU) at every image size, including sizes that leave partial tiles, on nChw16c (the plan's)
// and NHWC (training's) activations; and the backward transforms give the direct convolution's weight
// gradient. Self-contained (no oneDNN, no Tensor), so that it also runs under
// AddressSanitizer (winograd_asan). The plan that uses the transforms has its own test in test_plan.cpp.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "dnnl/winograd_transforms.h"

namespace resnet {
namespace {

namespace wg = winograd;
using Values = std::vector<float>;

Values random_values(int64_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Values out(static_cast<size_t>(n));
  for (float& v : out) v = dist(rng);
  return out;
}

// Index of (n, c, h, w) in nChw16c or NHWC (g.layout).
int64_t blocked(const wg::Geometry& g, int64_t channels, int64_t n, int64_t c, int64_t h, int64_t w) {
  if (g.layout == wg::Layout::nhwc) return ((n * g.height + h) * g.width + w) * channels + c;
  return (((n * (channels / wg::kBlock) + c / wg::kBlock) * g.height + h) * g.width + w) * wg::kBlock +
         c % wg::kBlock;
}

// y = conv3x3(x, weight, pad 1) + bias (+ y0) (ReLU), in double: the reference.
Values direct_conv(const wg::Geometry& g, const Values& x, const Values& weight, const Values& bias,
                   const Values& y0, bool accumulate, bool relu) {
  const int64_t c_in = g.in_channels, c_out = g.out_channels;
  Values y(static_cast<size_t>(g.n * c_out * g.height * g.width));
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t k = 0; k < c_out; ++k)
      for (int64_t h = 0; h < g.height; ++h)
        for (int64_t w = 0; w < g.width; ++w) {
          double sum = bias[static_cast<size_t>(k)];
          for (int64_t c = 0; c < c_in; ++c)
            for (int64_t r = 0; r < 3; ++r)
              for (int64_t s = 0; s < 3; ++s) {
                const int64_t hh = h + r - 1, ww = w + s - 1;
                if (hh < 0 || hh >= g.height || ww < 0 || ww >= g.width) continue;
                sum += double(weight[static_cast<size_t>(((k * c_in + c) * 3 + r) * 3 + s)]) *
                       x[static_cast<size_t>(blocked(g, c_in, n, c, hh, ww))];
              }
          const int64_t at = blocked(g, c_out, n, k, h, w);
          if (accumulate) sum += y0[static_cast<size_t>(at)];
          y[static_cast<size_t>(at)] = static_cast<float>(relu ? std::max(sum, 0.0) : sum);
        }
  return y;
}

// The same through the transforms, with M[ξ] = V[ξ] · U[ξ] as a plain loop; an all-zero bias is passed as
// none (null), as training does.
Values winograd_conv(const wg::Geometry& g, const Values& x, const Values& weight, const Values& bias,
                     const Values& y0, bool accumulate, bool relu) {
  const int64_t c_in = g.in_channels, c_out = g.out_channels, tiles = g.tiles();
  Values u(static_cast<size_t>(wg::kPoints * c_in * c_out));
  Values v(static_cast<size_t>(wg::kPoints * tiles * c_in));
  Values m(static_cast<size_t>(wg::kPoints * tiles * c_out));
  wg::transform_weights(weight.data(), c_out, c_in, u.data());
  wg::transform_input(g, x.data(), v.data());
  for (int64_t p = 0; p < wg::kPoints; ++p)
    for (int64_t t = 0; t < tiles; ++t)
      for (int64_t k = 0; k < c_out; ++k) {
        double sum = 0.0;
        for (int64_t c = 0; c < c_in; ++c)
          sum += double(v[static_cast<size_t>((p * tiles + t) * c_in + c)]) *
                 u[static_cast<size_t>((p * c_in + c) * c_out + k)];
        m[static_cast<size_t>((p * tiles + t) * c_out + k)] = static_cast<float>(sum);
      }
  Values y = y0;
  const bool no_bias = std::all_of(bias.begin(), bias.end(), [](float b) { return b == 0.0f; });
  wg::transform_output(g, m.data(), no_bias ? nullptr : bias.data(), accumulate, relu, y.data());
  return y;
}

TEST(WinogradTransforms, GiveTheDirectConvolutionAtEverySizeAndPostOp) {
  // Sizes: one pixel, smaller than a tile, exactly a tile, partial last tiles, several tiles.
  const std::vector<std::pair<int64_t, int64_t>> sizes = {{1, 1}, {2, 3}, {4, 4}, {5, 7}, {9, 6}, {12, 13}};
  uint32_t seed = 1;
  for (const wg::Layout layout : {wg::Layout::nChw16c, wg::Layout::nhwc}) {  // the plan's, training's
    for (const auto& [height, width] : sizes) {
      for (const bool accumulate : {false, true}) {
        const bool relu = accumulate || height % 2 == 1;
        const wg::Geometry g{.n = 2,
                             .in_channels = 32,
                             .out_channels = 16,
                             .height = height,
                             .width = width,
                             .layout = layout};
        SCOPED_TRACE(fmt::format("{} {}x{} accumulate {} relu {}",
                                 layout == wg::Layout::nhwc ? "NHWC" : "nChw16c", height, width, accumulate,
                                 relu));
        const Values x = random_values(g.n * g.in_channels * height * width, seed++);
        const Values weight = random_values(g.out_channels * g.in_channels * 9, seed++, -0.2f, 0.2f);
        // Training's convolutions have no bias: NHWC runs with none.
        const Values bias = layout == wg::Layout::nhwc ? Values(static_cast<size_t>(g.out_channels), 0.0f)
                                                       : random_values(g.out_channels, seed++);
        const Values y0 = random_values(g.n * g.out_channels * height * width, seed++);
        const Values want = direct_conv(g, x, weight, bias, y0, accumulate, relu);
        const Values got = winograd_conv(g, x, weight, bias, y0, accumulate, relu);
        double scale = 0.0, diff = 0.0;
        for (size_t i = 0; i < want.size(); ++i) {
          scale = std::max(scale, double(std::abs(want[i])));
          diff = std::max(diff, double(std::abs(want[i] - got[i])));
        }
        EXPECT_LT(diff, 1e-5 * scale) << "max |winograd - direct| " << diff << " of max " << scale;
      }
    }
  }
}

// dw0 + dL/dw of the 3x3 pad-1 convolution for the output gradient dy, in double: the reference.
// dw[k][c][r][s] = sum over n, h, w of dy[n][k][h][w] * x[n][c][h + r - 1][w + s - 1] (0 outside the image).
Values direct_weight_gradient(const wg::Geometry& g, const Values& x, const Values& dy, const Values& dw0) {
  const int64_t c_in = g.in_channels, c_out = g.out_channels;
  Values dw = dw0;
  for (int64_t k = 0; k < c_out; ++k)
    for (int64_t c = 0; c < c_in; ++c)
      for (int64_t r = 0; r < 3; ++r)
        for (int64_t s = 0; s < 3; ++s) {
          double sum = dw0[static_cast<size_t>(((k * c_in + c) * 3 + r) * 3 + s)];
          for (int64_t n = 0; n < g.n; ++n)
            for (int64_t h = 0; h < g.height; ++h)
              for (int64_t w = 0; w < g.width; ++w) {
                const int64_t hh = h + r - 1, ww = w + s - 1;
                if (hh < 0 || hh >= g.height || ww < 0 || ww >= g.width) continue;
                sum += double(dy[static_cast<size_t>(blocked(g, c_out, n, k, h, w))]) *
                       x[static_cast<size_t>(blocked(g, c_in, n, c, hh, ww))];
              }
          dw[static_cast<size_t>(((k * c_in + c) * 3 + r) * 3 + s)] = static_cast<float>(sum);
        }
  return dw;
}

// The same through the backward transforms, dU[ξ] = V[ξ]^T · dM[ξ] as a plain loop. lose_last_tile drops the
// batch's last tile (a partial one at the sizes below) from the sum: the broken transform the comparison
// must catch.
Values winograd_weight_gradient(const wg::Geometry& g, const Values& x, const Values& dy, const Values& dw0,
                                bool lose_last_tile = false) {
  const int64_t c_in = g.in_channels, c_out = g.out_channels, tiles = g.tiles();
  Values v(static_cast<size_t>(wg::kPoints * tiles * c_in));
  Values dm(static_cast<size_t>(wg::kPoints * tiles * c_out));
  Values du(static_cast<size_t>(wg::kPoints * c_in * c_out));
  wg::transform_input(g, x.data(), v.data());
  wg::transform_output_gradient(g, dy.data(), dm.data());
  const int64_t summed = lose_last_tile ? tiles - 1 : tiles;
  for (int64_t p = 0; p < wg::kPoints; ++p)
    for (int64_t c = 0; c < c_in; ++c)
      for (int64_t k = 0; k < c_out; ++k) {
        double sum = 0.0;
        for (int64_t t = 0; t < summed; ++t)
          sum += double(v[static_cast<size_t>((p * tiles + t) * c_in + c)]) *
                 dm[static_cast<size_t>((p * tiles + t) * c_out + k)];
        du[static_cast<size_t>((p * c_in + c) * c_out + k)] = static_cast<float>(sum);
      }
  Values dw = dw0;
  wg::transform_weights_gradient(du.data(), c_out, c_in, dw.data());
  return dw;
}

// max |a - b| and max |b|.
std::pair<double, double> max_difference(const Values& a, const Values& b) {
  double diff = 0.0, scale = 0.0;
  for (size_t i = 0; i < b.size(); ++i) {
    scale = std::max(scale, double(std::abs(b[i])));
    diff = std::max(diff, double(std::abs(a[i] - b[i])));
  }
  return {diff, scale};
}

// The weight gradient through the transforms is the direct one's, added to what the gradient held, at sizes
// with partial tiles (the outputs past the edge carry no gradient) on both layouts; losing one partial tile
// is caught.
TEST(WinogradTransforms, WeightGradientGivesTheDirectConvolutionsAtEverySize) {
  const std::vector<std::pair<int64_t, int64_t>> sizes = {{1, 1}, {2, 3}, {4, 4}, {5, 7}, {9, 6}, {12, 13}};
  uint32_t seed = 500;
  for (const wg::Layout layout : {wg::Layout::nChw16c, wg::Layout::nhwc}) {
    for (const auto& [height, width] : sizes) {
      const wg::Geometry g{
          .n = 2, .in_channels = 16, .out_channels = 32, .height = height, .width = width, .layout = layout};
      SCOPED_TRACE(fmt::format("{} {}x{}", layout == wg::Layout::nhwc ? "NHWC" : "nChw16c", height, width));
      const Values x = random_values(g.n * g.in_channels * height * width, seed++);
      const Values dy = random_values(g.n * g.out_channels * height * width, seed++);
      const Values dw0 = random_values(g.out_channels * g.in_channels * 9, seed++, -0.1f, 0.1f);
      const Values want = direct_weight_gradient(g, x, dy, dw0);
      const auto [diff, scale] = max_difference(winograd_weight_gradient(g, x, dy, dw0), want);
      EXPECT_LT(diff, 1e-5 * scale) << "max |winograd - direct| " << diff << " of max " << scale;
      const auto [lost, lost_scale] = max_difference(winograd_weight_gradient(g, x, dy, dw0, true), want);
      EXPECT_GT(lost, 1e-3 * lost_scale)
          << "losing the last tile went unnoticed: " << lost << " of max " << lost_scale;
    }
  }
}

}  // namespace
}  // namespace resnet
