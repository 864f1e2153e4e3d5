// Training's Winograd convolutions (src/dnnl/conv_winograd.h) against oneDNN's direct convolution, forward
// backward-data and backward-weights, at sizes that leave partial 4x4 tiles (H, W not multiples of 4), batch
// 1 and 3, in and out channels different; and the dispatch of ops::conv2d_forward / conv2d_backward_data /
// conv2d_backward_weights (the switch, the shapes it leaves to oneDNN).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <vector>

#include "dnnl/conv_winograd.h"
#include "dnnl/cpu_facts.h"
#include "dnnl/ops.h"
#include "unit/op_test_util.h"

namespace resnet {
namespace {

using test::random_tensor;

using WinogradSwitch = ops::ConvWinogradScope;

// max |a - b| <= tolerance * max |b|: the transforms' rounding is a few f32 ulps of the layer's largest
// values (as the plan's test, test_winograd_transforms.cpp), far below a wrong tap or a lost tile (order 1).
void expect_near_direct(const Tensor& winograd, const Tensor& direct, const std::string& what,
                        double tolerance = 1e-5) {
  ASSERT_EQ(shape_str(winograd.shape()), shape_str(direct.shape())) << what;
  double diff = 0.0, scale = 0.0;
  for (int64_t i = 0; i < direct.numel(); ++i) {
    diff = std::max(diff, std::abs(double(winograd.f32()[i]) - double(direct.f32()[i])));
    scale = std::max(scale, std::abs(double(direct.f32()[i])));
  }
  EXPECT_GT(scale, 0.1) << what;
  EXPECT_LE(diff, tolerance * scale) << what << ": max |winograd - direct| " << diff << " of max " << scale;
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

// The weight gradient sums products of the Winograd domain, ~100x larger than the gradient they add up to,
// over every tile of the batch in f32 (the matmul's accumulation): measured here max |winograd - direct| /
// max |direct| = 0.1e-6 to 2.3e-6 on the small cases and 1.1e-5 on the 392-tile one (1.2e-5 against torch
// float64 in tests/parity/test_conv_winograd.cpp), so it is held to 1e-4; a lost partial tile or a wrong tap
// is order 1e-2 to 1.
constexpr double kWeightGradientTolerance = 1e-4;
TEST(ConvWinograd, BackwardWeightsMatchesTheDirectConvolutionAndAddsIntoTheGradient) {
  const WinogradSwitch direct(false);
  const Window window = Window::square(3, 1, 1);
  uint32_t seed = 200;
  std::vector<Case> cases(std::begin(kCases), std::end(kCases));
  cases.push_back({8, 28, 28, 32, 32});  // 392 tiles in the sum
  for (const Case& c : cases) {
    const Tensor x = random_tensor({c.n, c.h, c.w, c.c}, seed++);
    const Tensor dy = random_tensor({c.n, c.h, c.w, c.k}, seed++);
    const Tensor dw0 = random_tensor({c.k, c.c, 3, 3}, seed++);
    const Tensor db0 = random_tensor({c.k}, seed++);
    Tensor dw = dw0.clone(), db = db0.clone(), dw_direct = dw0.clone(), db_direct = db0.clone();
    ops::conv2d_backward_weights_winograd(x, dy, dw, &db);
    ops::conv2d_backward_weights(x, dy, window, dw_direct, &db_direct);
    expect_near_direct(dw, dw_direct, name(c) + " weight gradient", kWeightGradientTolerance);
    expect_near_direct(db, db_direct, name(c) + " bias gradient");
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
    ASSERT_TRUE(ops::winograd_trains_weights(x.shape(), w.shape(), window, DType::f32));
    Tensor dw = Tensor::zeros(w.shape()), dw_winograd = Tensor::zeros(w.shape());
    ops::conv2d_backward_weights(x, dy, window, dw, nullptr);
    ops::conv2d_backward_weights_winograd(x, dy, dw_winograd, nullptr);
    EXPECT_TRUE(same(dw, dw_winograd));
  }
  {
    const WinogradSwitch off(false);
    EXPECT_FALSE(ops::winograd_trains(x.shape(), w.shape(), window, DType::f32));
    EXPECT_FALSE(ops::winograd_trains_weights(x.shape(), w.shape(), window, DType::f32));
    EXPECT_FALSE(
        same(ops::conv2d_forward(x, w, Tensor(), window), ops::conv2d_forward_winograd(x, w, Tensor())));
    Tensor dw = Tensor::zeros(w.shape()), dw_winograd = Tensor::zeros(w.shape());
    ops::conv2d_backward_weights(x, dy, window, dw, nullptr);
    ops::conv2d_backward_weights_winograd(x, dy, dw_winograd, nullptr);
    EXPECT_FALSE(same(dw, dw_winograd));
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
  // 512 x 512 on whole 4x4 tiles: through Winograd on Intel only (where it measured faster).
  EXPECT_EQ(ops::winograd_trains({128, 4, 4, 512}, {512, 512, 3, 3}, window, DType::f32),
            onednn::this_cpu().vendor == "GenuineIntel");
  EXPECT_FALSE(ops::winograd_trains({128, 4, 4, 1024}, {1024, 1024, 3, 3}, window, DType::f32));
  EXPECT_TRUE(ops::winograd_trains({32, 14, 14, 256}, {256, 256, 3, 3}, window, DType::f32));
  EXPECT_FALSE(ops::winograd_trains({128, 28, 28, 16}, {16, 16, 3, 3}, window, DType::f32));
  EXPECT_TRUE(ops::winograd_trains({128, 14, 14, 32}, {32, 32, 3, 3}, window, DType::f32));
  EXPECT_FALSE(ops::winograd_trains({1, 8, 4, 32}, {32, 32, 3, 3}, window, DType::f32));
  EXPECT_TRUE(ops::winograd_trains({2, 8, 8, 32}, {32, 32, 3, 3}, window, DType::f32));
  // The weight gradient's own rule: as the forward's, but 512 x 512 too (faster there, measured).
  EXPECT_TRUE(ops::winograd_trains_weights({32, 7, 7, 512}, {512, 512, 3, 3}, window, DType::f32));
  EXPECT_TRUE(ops::winograd_trains_weights({128, 4, 4, 512}, {512, 512, 3, 3}, window, DType::f32));
  EXPECT_TRUE(ops::winograd_trains_weights({32, 14, 14, 256}, {256, 256, 3, 3}, window, DType::f32));
  EXPECT_FALSE(ops::winograd_trains_weights({128, 28, 28, 16}, {16, 16, 3, 3}, window, DType::f32));
  EXPECT_TRUE(ops::winograd_trains_weights({128, 14, 14, 32}, {32, 32, 3, 3}, window, DType::f32));
  EXPECT_FALSE(ops::winograd_trains_weights({1, 8, 4, 32}, {32, 32, 3, 3}, window, DType::f32));
  EXPECT_FALSE(ops::winograd_trains_weights(x.shape(), w.shape(), Window::square(3, 2, 1), DType::f32));
  EXPECT_FALSE(ops::winograd_trains_weights(x.shape(), w.shape(), window, DType::bf16));
}

}  // namespace
}  // namespace resnet
