// The U-Net decoder's kernels (src/dnnl/upsample.cpp, concat.cpp) against loops written here: nearest x2
// upsampling and its backward, channel concatenation and its split, in f32 and bf16, and their shapes under
// ShapeOnly.
#include <gtest/gtest.h>

#include "dnnl/ops.h"
#include "resnet/error.h"
#include "unit/op_test_util.h"

namespace resnet {
namespace {

using test::expect_close;
using test::random_tensor;

// x [N,H,W,C] -> [N,2H,2W,C]
Tensor naive_upsample(const Tensor& x) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  Tensor y({n, 2 * h, 2 * w, c});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < 2 * h; ++i)
      for (int64_t j = 0; j < 2 * w; ++j)
        for (int64_t k = 0; k < c; ++k)
          y.f32()[((b * 2 * h + i) * 2 * w + j) * c + k] = x.f32()[((b * h + i / 2) * w + j / 2) * c + k];
  return y;
}

// dy [N,2H,2W,C] -> [N,H,W,C]
Tensor naive_upsample_backward(const Tensor& dy) {
  const int64_t n = dy.dim(0), h = dy.dim(1) / 2, w = dy.dim(2) / 2, c = dy.dim(3);
  Tensor dx({n, h, w, c});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < 2 * h; ++i)
      for (int64_t j = 0; j < 2 * w; ++j)
        for (int64_t k = 0; k < c; ++k)
          dx.f32()[((b * h + i / 2) * w + j / 2) * c + k] += dy.f32()[((b * 2 * h + i) * 2 * w + j) * c + k];
  return dx;
}

// Channels [from, from + count) of x [N,H,W,C].
Tensor naive_channels(const Tensor& x, int64_t from, int64_t count) {
  const int64_t pixels = x.dim(0) * x.dim(1) * x.dim(2), c = x.dim(3);
  Tensor y({x.dim(0), x.dim(1), x.dim(2), count});
  for (int64_t p = 0; p < pixels; ++p)
    for (int64_t k = 0; k < count; ++k) y.f32()[p * count + k] = x.f32()[p * c + from + k];
  return y;
}

TEST(UnetOps, UpsampleNearest2xRepeatsEachPixelInA2x2Block) {
  const Tensor x = random_tensor({2, 3, 5, 7}, 1);
  expect_close(ops::upsample_nearest2x_forward(x), naive_upsample(x), 0.0);
}

TEST(UnetOps, UpsampleNearest2xBackwardSumsEach2x2Block) {
  const Tensor dy = random_tensor({2, 6, 10, 7}, 2);
  expect_close(ops::upsample_nearest2x_backward(dy), naive_upsample_backward(dy), 1e-6);
}

TEST(UnetOps, UpsampleNearest2xRunsInBf16) {
  const Tensor x = ops::convert(random_tensor({1, 4, 4, 16}, 3), DType::bf16);
  const Tensor y = ops::upsample_nearest2x_forward(x);
  EXPECT_EQ(y.dtype(), DType::bf16);
  expect_close(ops::convert(y, DType::f32), naive_upsample(ops::convert(x, DType::f32)), 0.0);
  const Tensor dx = ops::upsample_nearest2x_backward(y);
  EXPECT_EQ(dx.dtype(), DType::bf16);
  expect_close(ops::convert(dx, DType::f32), naive_upsample_backward(ops::convert(y, DType::f32)), 1e-2);
}

TEST(UnetOps, ConcatChannelsPutsThePartsSideBySideAndTheSplitUndoesIt) {
  const Tensor a = random_tensor({2, 4, 3, 5}, 4);
  const Tensor b = random_tensor({2, 4, 3, 16}, 5);
  const Tensor c = random_tensor({2, 4, 3, 3}, 6);
  const Tensor y = ops::concat_channels_forward({a, b, c});
  ASSERT_EQ(shape_str(y.shape()), "[2,4,3,24]");
  expect_close(naive_channels(y, 0, 5), a, 0.0);
  expect_close(naive_channels(y, 5, 16), b, 0.0);
  expect_close(naive_channels(y, 21, 3), c, 0.0);
  const std::vector<Tensor> parts = ops::concat_channels_backward(y, {5, 16, 3});
  ASSERT_EQ(parts.size(), 3u);
  expect_close(parts[0], a, 0.0);
  expect_close(parts[1], b, 0.0);
  expect_close(parts[2], c, 0.0);
}

TEST(UnetOps, ConcatChannelsRunsInBf16) {
  const Tensor a = ops::convert(random_tensor({1, 2, 2, 8}, 7), DType::bf16);
  const Tensor b = ops::convert(random_tensor({1, 2, 2, 4}, 8), DType::bf16);
  const Tensor y = ops::concat_channels_forward({a, b});
  EXPECT_EQ(y.dtype(), DType::bf16);
  const std::vector<Tensor> parts = ops::concat_channels_backward(y, {8, 4});
  expect_close(ops::convert(parts[0], DType::f32), ops::convert(a, DType::f32), 0.0);
  expect_close(ops::convert(parts[1], DType::f32), ops::convert(b, DType::f32), 0.0);
}

TEST(UnetOps, ConcatChannelsRefusesPartsOfDifferentSizes) {
  EXPECT_THROW(ops::concat_channels_forward({Tensor({1, 2, 2, 3}), Tensor({1, 4, 4, 3})}), InputError);
  EXPECT_THROW(ops::concat_channels_backward(Tensor({1, 2, 2, 3}), {1, 1}), InputError);
}

TEST(UnetOps, ShapeOnlyGivesTheShapesWithoutComputing) {
  ops::ShapeOnly shapes_only;
  EXPECT_EQ(shape_str(ops::upsample_nearest2x_forward(Tensor({1, 7, 9, 4})).shape()), "[1,14,18,4]");
  EXPECT_EQ(shape_str(ops::concat_channels_forward({Tensor({1, 7, 9, 4}), Tensor({1, 7, 9, 2})}).shape()),
            "[1,7,9,6]");
}

}  // namespace
}  // namespace resnet
