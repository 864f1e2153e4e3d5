// Winograd F(4x4, 3x3): the transforms with a plain matrix product give a direct 3x3 pad-1 convolution (bias,
// residual sum, ReLU) at every image size, including sizes that leave partial tiles; and an f32 plan that
// runs its 3x3 convolutions as Winograd gives the direct plan's logits.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "dnnl/ops.h"
#include "dnnl/winograd_transforms.h"
#include "resnet/plan.h"
#include "unit/op_test_util.h"
#include "unit/plan_test_util.h"

namespace resnet {
namespace {

namespace wg = onednn::winograd;
using test::make_model;
using test::random_tensor;
using test::relative_difference;

// Index of (n, c, h, w) in nChw16c.
int64_t blocked(const wg::Geometry& g, int64_t channels, int64_t n, int64_t c, int64_t h, int64_t w) {
  return (((n * (channels / wg::kBlock) + c / wg::kBlock) * g.height + h) * g.width + w) * wg::kBlock +
         c % wg::kBlock;
}

// y = conv3x3(x, weight, pad 1) + bias (+ y0) (ReLU), in double: the reference.
std::vector<float> direct_conv(const wg::Geometry& g, const Tensor& x, const Tensor& weight,
                               const Tensor& bias, const Tensor& y0, bool accumulate, bool relu) {
  const int64_t c_in = g.in_channels, c_out = g.out_channels;
  std::vector<float> y(static_cast<size_t>(g.n * c_out * g.height * g.width));
  for (int64_t n = 0; n < g.n; ++n)
    for (int64_t k = 0; k < c_out; ++k)
      for (int64_t h = 0; h < g.height; ++h)
        for (int64_t w = 0; w < g.width; ++w) {
          double sum = bias.f32()[k];
          for (int64_t c = 0; c < c_in; ++c)
            for (int64_t r = 0; r < 3; ++r)
              for (int64_t s = 0; s < 3; ++s) {
                const int64_t hh = h + r - 1, ww = w + s - 1;
                if (hh < 0 || hh >= g.height || ww < 0 || ww >= g.width) continue;
                sum += double(weight.f32()[((k * c_in + c) * 3 + r) * 3 + s]) *
                       x.f32()[blocked(g, c_in, n, c, hh, ww)];
              }
          const int64_t at = blocked(g, c_out, n, k, h, w);
          if (accumulate) sum += y0.f32()[at];
          y[static_cast<size_t>(at)] = static_cast<float>(relu ? std::max(sum, 0.0) : sum);
        }
  return y;
}

// The same through the transforms, with M[ξ] = V[ξ] · U[ξ] as a plain loop.
std::vector<float> winograd_conv(const wg::Geometry& g, const Tensor& x, const Tensor& weight,
                                 const Tensor& bias, const Tensor& y0, bool accumulate, bool relu) {
  const int64_t c_in = g.in_channels, c_out = g.out_channels, tiles = g.tiles();
  std::vector<float> u(static_cast<size_t>(wg::kPoints * c_in * c_out));
  std::vector<float> v(static_cast<size_t>(wg::kPoints * tiles * c_in));
  std::vector<float> m(static_cast<size_t>(wg::kPoints * tiles * c_out));
  wg::transform_weights(weight.f32(), c_out, c_in, u.data());
  wg::transform_input(g, x.f32(), v.data());
  for (int64_t p = 0; p < wg::kPoints; ++p)
    for (int64_t t = 0; t < tiles; ++t)
      for (int64_t k = 0; k < c_out; ++k) {
        double sum = 0.0;
        for (int64_t c = 0; c < c_in; ++c)
          sum += double(v[static_cast<size_t>((p * tiles + t) * c_in + c)]) *
                 u[static_cast<size_t>((p * c_in + c) * c_out + k)];
        m[static_cast<size_t>((p * tiles + t) * c_out + k)] = static_cast<float>(sum);
      }
  std::vector<float> y(y0.f32(), y0.f32() + y0.numel());
  wg::transform_output(g, m.data(), bias.f32(), accumulate, relu, y.data());
  return y;
}

TEST(WinogradTransforms, GiveTheDirectConvolutionAtEverySizeAndPostOp) {
  // Sizes: one pixel, smaller than a tile, exactly a tile, partial last tiles, several tiles.
  const std::vector<std::pair<int64_t, int64_t>> sizes = {{1, 1}, {2, 3}, {4, 4}, {5, 7}, {9, 6}, {12, 13}};
  uint32_t seed = 1;
  for (const auto& [height, width] : sizes) {
    for (const bool accumulate : {false, true}) {
      const bool relu = accumulate || height % 2 == 1;
      const wg::Geometry g{.n = 2, .in_channels = 32, .out_channels = 16, .height = height, .width = width};
      SCOPED_TRACE(fmt::format("{}x{} accumulate {} relu {}", height, width, accumulate, relu));
      const Tensor x = random_tensor({g.n * g.in_channels * height * width}, seed++);
      const Tensor weight = random_tensor({g.out_channels, g.in_channels, 3, 3}, seed++, -0.2f, 0.2f);
      const Tensor bias = random_tensor({g.out_channels}, seed++);
      const Tensor y0 = random_tensor({g.n * g.out_channels * height * width}, seed++);
      const std::vector<float> want = direct_conv(g, x, weight, bias, y0, accumulate, relu);
      const std::vector<float> got = winograd_conv(g, x, weight, bias, y0, accumulate, relu);
      double scale = 0.0, diff = 0.0;
      for (size_t i = 0; i < want.size(); ++i) {
        scale = std::max(scale, double(std::abs(want[i])));
        diff = std::max(diff, double(std::abs(want[i] - got[i])));
      }
      EXPECT_LT(diff, 1e-5 * scale) << "max |winograd - direct| " << diff << " of max " << scale;
    }
  }
}

// resnet18 accumulates the residual into its 3x3 conv2 (the fused sum); resnet50's 3x3 convs sit inside
// bottlenecks. Odd image sizes leave partial tiles; a batch of 3 is not a multiple of any image group > 1.
TEST(Plan, WinogradGivesTheDirectPlansLogits) {
  ops::set_num_threads(2);
  for (const std::string arch : {"resnet18", "resnet50"}) {
    SCOPED_TRACE(arch);
    auto model = make_model(arch);
    const Tensor x = random_tensor({3, 61, 75, 3}, 47);
    InferencePlan winograd = InferencePlan::compile(*model, Precision::f32, x.shape());
    InferencePlan direct = InferencePlan::compile(*model, Precision::f32, x.shape(), {.winograd = false});
    EXPECT_NE(winograd.describe().find("winograd"), std::string::npos) << winograd.describe();
    EXPECT_EQ(direct.describe().find("winograd"), std::string::npos) << direct.describe();
    const Tensor logits = winograd.run(x);
    EXPECT_LT(relative_difference(logits, direct.run(x)), 1e-5);
    EXPECT_LT(relative_difference(logits, model->forward(x)), 1e-4);
  }
}

}  // namespace
}  // namespace resnet
