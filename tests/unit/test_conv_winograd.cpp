// Training's Winograd convolutions (src/dnnl/conv_winograd.h) against oneDNN's direct convolution, forward
// and backward-data, at sizes that leave partial 4x4 tiles (H, W not multiples of 4), batch 1 and 3, in and
// out channels different; and the dispatch of ops::conv2d_forward / conv2d_backward_data (the switch, the
// shapes it leaves to oneDNN).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "dnnl/conv_winograd.h"
#include "dnnl/ops.h"
#include "unit/op_test_util.h"

namespace resnet {
namespace {

using test::random_tensor;

using WinogradSwitch = ops::ConvWinogradScope;

// max |a - b| <= 1e-5 * max |b|: the transforms' rounding is a few f32 ulps of the layer's largest values
// (as the plan's test, test_winograd_transforms.cpp), far below a wrong tap or a lost tile (order 1).
void expect_near_direct(const Tensor& winograd, const Tensor& direct, const std::string& what) {
  ASSERT_EQ(shape_str(winograd.shape()), shape_str(direct.shape())) << what;
  double diff = 0.0, scale = 0.0;
  for (int64_t i = 0; i < direct.numel(); ++i) {
    diff = std::max(diff, std::abs(double(winograd.f32()[i]) - double(direct.f32()[i])));
    scale = std::max(scale, std::abs(double(direct.f32()[i])));
  }
  EXPECT_GT(scale, 0.1) << what;
  EXPECT_LE(diff, 1e-5 * scale) << what << ": max |winograd - direct| " << diff << " of max " << scale;
}

struct Case {
  int64_t n, h, w, c, k;
};
constexpr Case kCases[] = {{1, 7, 9, 16, 32}, {3, 5, 5, 32, 16}, {3, 13, 6, 16, 16},
                           {1, 1, 1, 16, 16}, {3, 4, 8, 48, 16}, {1, 10, 3, 16, 64}};

std::string name(const Case& c) {
  return shape_str({c.n, c.h, c.w, c.c}) + " -> " + std::to_string(c.k);
}

TEST(ConvWinograd, ForwardMatchesTheDirectConvolutionWithPartialTiles) {
  const WinogradSwitch direct(false);
  const Window window = Window::square(3, 1, 1);
  uint32_t seed = 1;
  for (const Case& c : kCases) {
    const Tensor x = random_tensor({c.n, c.h, c.w, c.c}, seed++);
    const Tensor w = random_tensor({c.k, c.c, 3, 3}, seed++, -0.3f, 0.3f);
    const Tensor bias = random_tensor({c.k}, seed++);
    expect_near_direct(ops::conv2d_forward_winograd(x, w, bias), ops::conv2d_forward(x, w, bias, window),
                       name(c) + " with bias");
    expect_near_direct(ops::conv2d_forward_winograd(x, w, Tensor()),
                       ops::conv2d_forward(x, w, Tensor(), window), name(c));
  }
}

TEST(ConvWinograd, BackwardDataMatchesTheDirectConvolution) {
  const WinogradSwitch direct(false);
  const Window window = Window::square(3, 1, 1);
  uint32_t seed = 100;
  for (const Case& c : kCases) {
    const Shape x_shape = {c.n, c.h, c.w, c.c};
    const Tensor dy = random_tensor({c.n, c.h, c.w, c.k}, seed++);
    const Tensor w = random_tensor({c.k, c.c, 3, 3}, seed++, -0.3f, 0.3f);
    expect_near_direct(ops::conv2d_backward_data_winograd(dy, w),
                       ops::conv2d_backward_data(dy, w, x_shape, window), name(c) + " backward data");
  }
}

TEST(ConvWinograd, TheSwitchChoosesThePathOfEligibleShapesOnly) {
  const Window window = Window::square(3, 1, 1);
  const Tensor x = random_tensor({2, 6, 7, 32}, 7);
  const Tensor w = random_tensor({48, 32, 3, 3}, 8, -0.3f, 0.3f);
  const Tensor dy = random_tensor({2, 6, 7, 48}, 9);
  ASSERT_TRUE(ops::winograd_applies(x.shape(), w.shape(), window, DType::f32));
  auto same = [](const Tensor& a, const Tensor& b) {
    return std::equal(a.f32(), a.f32() + a.numel(), b.f32(), b.f32() + b.numel());
  };
  {
    const WinogradSwitch on(true);
    EXPECT_TRUE(
        same(ops::conv2d_forward(x, w, Tensor(), window), ops::conv2d_forward_winograd(x, w, Tensor())));
    EXPECT_TRUE(
        same(ops::conv2d_backward_data(dy, w, x.shape(), window), ops::conv2d_backward_data_winograd(dy, w)));
  }
  {
    const WinogradSwitch off(false);
    EXPECT_FALSE(ops::winograd_trains(x.shape(), w.shape(), window, DType::f32));
    EXPECT_FALSE(
        same(ops::conv2d_forward(x, w, Tensor(), window), ops::conv2d_forward_winograd(x, w, Tensor())));
  }
  // Shapes the transforms cannot take stay with oneDNN whatever the switch.
  const WinogradSwitch on(true);
  EXPECT_FALSE(ops::winograd_trains(x.shape(), w.shape(), Window::square(3, 2, 1), DType::f32));
  EXPECT_FALSE(ops::winograd_trains({2, 6, 7, 8}, {16, 8, 3, 3}, window, DType::f32));
  EXPECT_FALSE(ops::winograd_trains({2, 6, 7, 16}, {24, 16, 3, 3}, window, DType::f32));
  EXPECT_FALSE(ops::winograd_trains(x.shape(), w.shape(), window, DType::bf16));
  EXPECT_FALSE(ops::winograd_trains(x.shape(), {48, 32, 1, 1}, Window::square(1, 1, 0), DType::f32));
  EXPECT_FALSE(ops::winograd_trains(x.shape(), {2, 16, 3, 3}, Window::square(3, 1, 1, 1, 2), DType::f32));
  // Where it measured no faster: 512 x 512 and 16 x 16 channels, and a batch of fewer than 8 output tiles.
  EXPECT_FALSE(ops::winograd_trains({32, 7, 7, 512}, {512, 512, 3, 3}, window, DType::f32));
  EXPECT_TRUE(ops::winograd_trains({32, 14, 14, 256}, {256, 256, 3, 3}, window, DType::f32));
  EXPECT_FALSE(ops::winograd_trains({128, 28, 28, 16}, {16, 16, 3, 3}, window, DType::f32));
  EXPECT_TRUE(ops::winograd_trains({128, 14, 14, 32}, {32, 32, 3, 3}, window, DType::f32));
  EXPECT_FALSE(ops::winograd_trains({1, 8, 4, 32}, {32, 32, 3, 3}, window, DType::f32));
  EXPECT_TRUE(ops::winograd_trains({2, 8, 8, 32}, {32, 32, 3, 3}, window, DType::f32));
}

}  // namespace
}  // namespace resnet
