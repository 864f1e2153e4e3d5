// The backward kernels (src/dnnl/ops.h) and the layers' backward() against references written here: naive
// loops in double for the linear ops (their gradients are sums the loops spell out), and, for batch norm,
// a closed form that is itself checked against central finite differences.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>
#include <random>
#include <vector>

#include "dnnl/conv_phases.h"
#include "dnnl/conv_weight_matmul.h"
#include "dnnl/ops.h"
#include "nn/activation.h"
#include "nn/batchnorm2d.h"
#include "nn/conv2d.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/pooling.h"
#include "resnet/error.h"
#include "unit/op_test_util.h"

namespace resnet {
namespace {

using test::expect_close;
using test::random_tensor;

// Small integers: many exact ties for max pooling.
Tensor integer_tensor(Shape shape, uint32_t seed, int lo, int hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
  for (float& v : values) v = static_cast<float>(dist(rng));
  return Tensor::from_vector(std::move(shape), values);
}

Tensor from_doubles(const Shape& shape, const std::vector<double>& values) {
  std::vector<float> f(values.begin(), values.end());
  return Tensor::from_vector(shape, f);
}

struct ConvGrads {
  Tensor dx, dw, dbias;
};

// The gradients of y = conv(x, w) + bias, by the forward loop run backwards: every product x*w that fed
// y[b,i,j,oc] sends dy[b,i,j,oc]*w to dx and dy*x to dw.
ConvGrads naive_conv_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const Window& s) {
  const int64_t n = x.dim(0), h = x.dim(1), wd = x.dim(2), c = x.dim(3);
  const int64_t o = w.dim(0), icg = w.dim(1), kh = w.dim(2), kw = w.dim(3);
  const int64_t ocg = o / s.groups, oh = dy.dim(1), ow = dy.dim(2);
  std::vector<double> dx(static_cast<size_t>(x.numel())), dw(static_cast<size_t>(w.numel())),
      db(static_cast<size_t>(o));
  const float *xp = x.f32(), *wp = w.f32(), *dyp = dy.f32();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t oc = 0; oc < o; ++oc) {
          const int64_t g = oc / ocg;
          const double d = dyp[((b * oh + i) * ow + j) * o + oc];
          db[oc] += d;
          for (int64_t ic = 0; ic < icg; ++ic)
            for (int64_t r = 0; r < kh; ++r)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t hi = i * s.stride_h - s.pad_h + r * s.dilation_h;
                const int64_t wi = j * s.stride_w - s.pad_w + q * s.dilation_w;
                if (hi < 0 || hi >= h || wi < 0 || wi >= wd) continue;
                const int64_t xi = ((b * h + hi) * wd + wi) * c + g * icg + ic;
                const int64_t wi_ = ((oc * icg + ic) * kh + r) * kw + q;
                dx[xi] += d * wp[wi_];
                dw[wi_] += d * xp[xi];
              }
        }
  return {from_doubles(x.shape(), dx), from_doubles(w.shape(), dw), from_doubles({o}, db)};
}

void expect_conv_backward_matches_naive(Shape x_shape, Shape w_shape, bool with_bias, const Window& spec) {
  const Tensor x = random_tensor(x_shape, 1), w = random_tensor(w_shape, 2);
  const Tensor y = ops::conv2d_forward(x, w, Tensor(), spec);
  const Tensor dy = random_tensor(y.shape(), 3);
  const ConvGrads expected = naive_conv_backward(x, w, dy, spec);

  expect_close(ops::conv2d_backward_data(dy, w, x.shape(), spec), expected.dx);
  Tensor dw = Tensor::zeros(w.shape()), dbias = Tensor::zeros({w_shape[0]});
  ops::conv2d_backward_weights(x, dy, spec, dw, with_bias ? &dbias : nullptr);
  expect_close(dw, expected.dw);
  if (with_bias) expect_close(dbias, expected.dbias);
}

TEST(BackwardOps, ConvMatchesNaiveFor3x3Stride1Padding1) {
  expect_conv_backward_matches_naive({2, 9, 7, 16}, {24, 16, 3, 3}, false, Window::square(3, 1, 1));
}

TEST(BackwardOps, ConvMatchesNaiveFor3x3Stride2Padding1OnOddAndEvenSizes) {
  expect_conv_backward_matches_naive({2, 13, 11, 8}, {16, 8, 3, 3}, true, Window::square(3, 2, 1));
  expect_conv_backward_matches_naive({2, 14, 12, 8}, {16, 8, 3, 3}, false, Window::square(3, 2, 1));
}

TEST(BackwardOps, ConvMatchesNaiveForStemKernel7Stride2Padding3WithBias) {
  expect_conv_backward_matches_naive({2, 13, 11, 3}, {8, 3, 7, 7}, true, Window::square(7, 2, 3));
}

// The last row/column of an odd input is never read by a 1x1 stride-2 conv: its gradient must be zero.
TEST(BackwardOps, ConvMatchesNaiveForStridedPointwiseOnOddSizes) {
  expect_conv_backward_matches_naive({2, 13, 11, 16}, {24, 16, 1, 1}, false, Window::square(1, 2, 0));
}

// f32 weight gradients of 3x3 stride-2 and wide 1x1 convolutions go through a matmul over the input's patches
// (src/dnnl/conv_weight_matmul.h) and 1x1 stride-2 input gradients through the input's phases
// (src/dnnl/conv_phases.h): sizes where the odd rows/columns are one short (odd H or W), absent (H or W of
// 1), or as many as the even ones; batches that split into several groups of images are in
// ConvWeightGradientsByMatmulSumTheGroupsOfImages.
TEST(BackwardOps, ConvMatchesNaiveForStride2ThroughPatchesAndPhasesAtEdgeSizes) {
  const Window k3s2 = Window::square(3, 2, 1), k1s2 = Window::square(1, 2, 0);
  for (const auto& [n, h, w] : std::vector<std::array<int64_t, 3>>{
           {1, 1, 1}, {2, 1, 5}, {2, 5, 1}, {1, 2, 3}, {3, 3, 2}, {1, 6, 6}, {2, 7, 4}}) {
    SCOPED_TRACE(shape_str({n, h, w}));
    ASSERT_TRUE(ops::weight_gradient_as_matmul({n, h, w, 64}, {128, 64, 3, 3}, k3s2, DType::f32, false));
    expect_conv_backward_matches_naive({n, h, w, 64}, {128, 64, 3, 3}, false, k3s2);
    ASSERT_TRUE(ops::weight_gradient_as_matmul({n, h, w, 256}, {512, 256, 1, 1}, k1s2, DType::f32, false));
    ASSERT_TRUE(ops::phases_train_data({n, h, w, 256}, {512, 256, 1, 1}, k1s2, DType::f32));
    expect_conv_backward_matches_naive({n, h, w, 256}, {512, 256, 1, 1}, false, k1s2);
  }
}

// The matmul takes 3x3 stride-2 weight gradients from K·C = 64 x 128 up and 1x1 ones (stride 1 or 2) from
// 256 x 512 up; a bias gradient, bf16, groups, dilation or other windows keep oneDNN's convolution.
TEST(BackwardOps, ConvWeightGradientsByMatmulTakeTheirShapesOnlyAndAreWhatTheConvolutionRuns) {
  const Shape x = {2, 9, 8, 64}, w3 = {128, 64, 3, 3};
  const Window k3s2 = Window::square(3, 2, 1), k1s1 = Window::square(1, 1, 0);
  EXPECT_FALSE(ops::weight_gradient_as_matmul(x, w3, k3s2, DType::bf16, false));
  EXPECT_FALSE(ops::weight_gradient_as_matmul(x, w3, k3s2, DType::f32, true));
  EXPECT_FALSE(ops::weight_gradient_as_matmul(x, w3, Window::square(3, 1, 1), DType::f32, false));
  EXPECT_FALSE(
      ops::weight_gradient_as_matmul(x, {128, 8, 3, 3}, Window::square(3, 2, 1, 1, 8), DType::f32, false));
  EXPECT_FALSE(ops::weight_gradient_as_matmul(x, w3, Window::square(3, 2, 2, 2), DType::f32, false));
  EXPECT_FALSE(
      ops::weight_gradient_as_matmul(x, {128, 64, 7, 7}, Window::square(7, 2, 3), DType::f32, false));
  EXPECT_FALSE(ops::weight_gradient_as_matmul(x, {64, 64, 3, 3}, k3s2, DType::f32, false));
  EXPECT_FALSE(ops::weight_gradient_as_matmul({2, 9, 8, 256}, {256, 256, 1, 1}, k1s1, DType::f32, false));
  EXPECT_TRUE(ops::weight_gradient_as_matmul({2, 9, 8, 256}, {512, 256, 1, 1}, k1s1, DType::f32, false));
  EXPECT_FALSE(ops::phases_train_data(x, {32, 64, 1, 1}, Window::square(1, 2, 0), DType::bf16));
  EXPECT_FALSE(ops::phases_train_data(x, {32, 64, 1, 1}, k1s1, DType::f32));
  EXPECT_FALSE(ops::phases_train_data(x, w3, k3s2, DType::f32));

  const Tensor input = random_tensor(x, 11), dy = random_tensor({2, 5, 4, 128}, 12);
  Tensor dw = Tensor::zeros(w3), dw_matmul = Tensor::zeros(w3);
  ops::conv2d_backward_weights(input, dy, k3s2, dw, nullptr);
  ops::conv2d_backward_weights_matmul(input, dy, k3s2, dw_matmul);
  EXPECT_TRUE(std::equal(dw.f32(), dw.f32() + dw.numel(), dw_matmul.f32()));
  const Tensor w1 = random_tensor({128, 64, 1, 1}, 13);
  const Tensor dx = ops::conv2d_backward_data(dy, w1, x, Window::square(1, 2, 0));
  const Tensor dx_phases = ops::conv2d_backward_data_phases(dy, w1, x, Window::square(1, 2, 0));
  EXPECT_TRUE(std::equal(dx.f32(), dx.f32() + dx.numel(), dx_phases.f32()));
}

// The 1x1 stride-1 matmul (no patches) against the naive loops, and a batch whose patches (64 MiB a group)
// take several groups of images: 16 images of 64x64x256 through a 3x3 stride-2 window are 9 MiB of patches
// each (32·32 rows of 9·256 floats), so 4 groups of 4.
TEST(BackwardOps, ConvWeightGradientsByMatmulSumTheGroupsOfImages) {
  const Window k1s1 = Window::square(1, 1, 0);
  ASSERT_TRUE(ops::weight_gradient_as_matmul({2, 5, 3, 256}, {512, 256, 1, 1}, k1s1, DType::f32, false));
  expect_conv_backward_matches_naive({2, 5, 3, 256}, {512, 256, 1, 1}, false, k1s1);

  const Window k3s2 = Window::square(3, 2, 1);
  const Tensor x = random_tensor({16, 64, 64, 256}, 21), dy = random_tensor({16, 32, 32, 8}, 22);
  Tensor dw = Tensor::zeros({8, 256, 3, 3});
  ops::conv2d_backward_weights_matmul(x, dy, k3s2, dw);
  const ConvGrads expected = naive_conv_backward(x, Tensor::zeros({8, 256, 3, 3}), dy, k3s2);
  expect_close(dw, expected.dw);
}

TEST(BackwardOps, ConvMatchesNaiveWithGroupsAndDilation) {
  expect_conv_backward_matches_naive({2, 11, 9, 64}, {64, 2, 3, 3}, false, Window::square(3, 1, 2, 2, 32));
}

TEST(BackwardOps, ConvMatchesNaiveWithGroupsStride2AndBias) {
  expect_conv_backward_matches_naive({1, 13, 11, 32}, {64, 4, 3, 3}, true, Window::square(3, 2, 1, 1, 8));
}

TEST(BackwardOps, ConvMatchesNaiveWithDilation2AndNoPadding) {
  expect_conv_backward_matches_naive({1, 13, 11, 8}, {8, 8, 3, 3}, true, Window::square(3, 1, 0, 2));
}

// torch adds every backward's gradient into .grad; so do the kernels (stride 1, and stride 2 through the
// phases).
void expect_weight_gradients_accumulate(const Window& spec) {
  const Tensor x = random_tensor({2, 8, 8, 16}, 4), w = random_tensor({32, 16, 3, 3}, 5);
  const Tensor dy = random_tensor({2, spec.output_h(8), spec.output_w(8), 32}, 6);
  const ConvGrads once = naive_conv_backward(x, w, dy, spec);
  Tensor dw = Tensor::full(w.shape(), 0.25f), dbias = Tensor::full({32}, -1.0f);
  ops::conv2d_backward_weights(x, dy, spec, dw, &dbias);
  ops::conv2d_backward_weights(x, dy, spec, dw, &dbias);
  Tensor expected_dw(w.shape()), expected_db({32});
  for (int64_t i = 0; i < w.numel(); ++i) expected_dw.f32()[i] = 0.25f + 2 * once.dw.f32()[i];
  for (int64_t i = 0; i < 32; ++i) expected_db.f32()[i] = -1.0f + 2 * once.dbias.f32()[i];
  expect_close(dw, expected_dw);
  expect_close(dbias, expected_db);
}

TEST(BackwardOps, ConvWeightGradientsAccumulateIntoExistingValues) {
  expect_weight_gradients_accumulate(Window::square(3, 1, 1));
  expect_weight_gradients_accumulate(Window::square(3, 2, 1));
}

TEST(BackwardOps, ConvBackwardRejectsGradientOfTheWrongShape) {
  const Tensor w = random_tensor({8, 4, 3, 3}, 7);
  EXPECT_THROW(ops::conv2d_backward_data(Tensor({1, 5, 5, 8}), w, {1, 6, 6, 4}, Window::square(3, 1, 1)),
               InputError);
  Tensor dw = Tensor::zeros(w.shape());
  EXPECT_THROW(ops::conv2d_backward_weights(Tensor({1, 6, 6, 4}), Tensor({1, 6, 6, 7}),
                                            Window::square(3, 1, 1), dw, nullptr),
               InputError);
}

// Batch norm in train mode, in double: y = (x - mean) / sqrt(var + eps) * weight + bias over the batch
// statistics (biased variance).
std::vector<double> naive_batchnorm_train(const std::vector<double>& x, const std::vector<double>& weight,
                                          const std::vector<double>& bias, int64_t c, double eps) {
  const int64_t count = static_cast<int64_t>(x.size()) / c;
  std::vector<double> mean(c), var(c), y(x.size());
  for (size_t i = 0; i < x.size(); ++i) mean[i % c] += x[i] / double(count);
  for (size_t i = 0; i < x.size(); ++i) var[i % c] += std::pow(x[i] - mean[i % c], 2) / double(count);
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t k = i % c;
    y[i] = (x[i] - mean[k]) / std::sqrt(var[k] + eps) * weight[k] + bias[k];
  }
  return y;
}

struct BatchNormGrads {
  std::vector<double> dx, dweight, dbias;
};

// The closed form: with xhat = (x - mean) / sigma, dbias = sum dy, dweight = sum dy * xhat and
// dx = weight / sigma * (dy - mean(dy) - xhat * mean(dy * xhat)).
BatchNormGrads naive_batchnorm_backward(const std::vector<double>& x, const std::vector<double>& weight,
                                        const std::vector<double>& dy, int64_t c, double eps) {
  const int64_t count = static_cast<int64_t>(x.size()) / c;
  std::vector<double> mean(c), var(c);
  for (size_t i = 0; i < x.size(); ++i) mean[i % c] += x[i] / double(count);
  for (size_t i = 0; i < x.size(); ++i) var[i % c] += std::pow(x[i] - mean[i % c], 2) / double(count);
  BatchNormGrads g{std::vector<double>(x.size()), std::vector<double>(c), std::vector<double>(c)};
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t k = i % c;
    g.dbias[k] += dy[i];
    g.dweight[k] += dy[i] * (x[i] - mean[k]) / std::sqrt(var[k] + eps);
  }
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t k = i % c;
    const double sigma = std::sqrt(var[k] + eps), xhat = (x[i] - mean[k]) / sigma;
    g.dx[i] = weight[k] / sigma * (dy[i] - g.dbias[k] / double(count) - xhat * g.dweight[k] / double(count));
  }
  return g;
}

std::vector<double> to_doubles(const Tensor& t) {
  return std::vector<double>(t.f32(), t.f32() + t.numel());
}

// The closed form is the spec of the kernel, so it is checked first: L = sum(y * dy), dL/dx by central
// differences of the double-precision forward.
TEST(BackwardOps, BatchNormClosedFormAgreesWithFiniteDifferences) {
  const int64_t c = 3;
  const std::vector<double> x = to_doubles(random_tensor({2, 3, 2, c}, 8, -2.0f, 3.0f));
  const std::vector<double> weight = {0.7, -1.3, 2.0}, bias = {0.1, 0.2, -0.3};
  const std::vector<double> dy = to_doubles(random_tensor({2, 3, 2, c}, 9));
  const double eps = 1e-5, h = 1e-6;
  const BatchNormGrads g = naive_batchnorm_backward(x, weight, dy, c, eps);
  auto loss = [&](const std::vector<double>& xs, const std::vector<double>& ws,
                  const std::vector<double>& bs) {
    const std::vector<double> y = naive_batchnorm_train(xs, ws, bs, c, eps);
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += y[i] * dy[i];
    return l;
  };
  for (size_t i = 0; i < x.size(); ++i) {
    std::vector<double> plus = x, minus = x;
    plus[i] += h;
    minus[i] -= h;
    EXPECT_NEAR(g.dx[i], (loss(plus, weight, bias) - loss(minus, weight, bias)) / (2 * h), 1e-6)
        << "dx " << i;
  }
  for (int64_t k = 0; k < c; ++k) {
    std::vector<double> wp = weight, wm = weight, bp = bias, bm = bias;
    wp[k] += h;
    wm[k] -= h;
    bp[k] += h;
    bm[k] -= h;
    EXPECT_NEAR(g.dweight[k], (loss(x, wp, bias) - loss(x, wm, bias)) / (2 * h), 1e-6) << "dweight " << k;
    EXPECT_NEAR(g.dbias[k], (loss(x, weight, bp) - loss(x, weight, bm)) / (2 * h), 1e-6) << "dbias " << k;
  }
}

void expect_batchnorm_backward_matches_closed_form(const Shape& shape, uint32_t seed) {
  const int64_t c = shape.back();
  const Tensor x = random_tensor(shape, seed, -2.0f, 3.0f);
  const Tensor weight = random_tensor({c}, seed + 1, 0.5f, 1.5f), bias = random_tensor({c}, seed + 2);
  const Tensor dy = random_tensor(shape, seed + 3);
  const float eps = 1e-5f;
  Tensor mean, var;
  ops::batchnorm_forward_training(x, weight, bias, eps, mean, var);
  // The gradients start non-zero: the kernel must add to them.
  Tensor dweight = Tensor::full({c}, 0.5f), dbias = Tensor::full({c}, -0.5f);
  const Tensor dx = ops::batchnorm_backward(dy, x, weight, mean, var, eps, dweight, dbias);

  const BatchNormGrads g =
      naive_batchnorm_backward(to_doubles(x), to_doubles(weight), to_doubles(dy), c, eps);
  std::vector<double> dweight_expected = g.dweight, dbias_expected = g.dbias;
  for (double& v : dweight_expected) v += 0.5;
  for (double& v : dbias_expected) v -= 0.5;
  expect_close(dx, from_doubles(shape, g.dx), 2e-4);
  expect_close(dweight, from_doubles({c}, dweight_expected), 2e-4);
  expect_close(dbias, from_doubles({c}, dbias_expected), 2e-4);
}

TEST(BackwardOps, BatchNormMatchesClosedFormOnNhwc) {
  expect_batchnorm_backward_matches_closed_form({3, 5, 7, 16}, 10);
  expect_batchnorm_backward_matches_closed_form({2, 1, 1, 64}, 20);  // 2 values per channel
}

TEST(BackwardOps, BatchNormMatchesClosedFormOnNc) {
  expect_batchnorm_backward_matches_closed_form({6, 40}, 30);
}

// dy goes to the first maximum of each window in row-major order (PyTorch's tie rule; padding is -inf and
// never wins); overlapping windows add.
Tensor naive_maxpool_backward(const Tensor& x, const Tensor& dy, int64_t k, int64_t s, int64_t p) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  const int64_t oh = dy.dim(1), ow = dy.dim(2);
  std::vector<double> dx(static_cast<size_t>(x.numel()));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t ch = 0; ch < c; ++ch) {
          int64_t arg = -1;
          for (int64_t r = i * s - p; r < i * s - p + k; ++r)
            for (int64_t q = j * s - p; q < j * s - p + k; ++q) {
              if (r < 0 || r >= h || q < 0 || q >= w) continue;
              const int64_t at = ((b * h + r) * w + q) * c + ch;
              if (arg < 0 || x.f32()[at] > x.f32()[arg]) arg = at;
            }
          dx[arg] += dy.f32()[((b * oh + i) * ow + j) * c + ch];
        }
  return from_doubles(x.shape(), dx);
}

void expect_maxpool_backward_matches_naive(const Tensor& x, int64_t k, int64_t s, int64_t p) {
  Tensor workspace;
  const Window window = Window::square(k, s, p);
  const Tensor y = ops::maxpool2d_forward_training(x, window, workspace);
  expect_close(y, ops::maxpool2d_forward(x, window), 0.0);
  const Tensor dy = random_tensor(y.shape(), 40);
  expect_close(ops::maxpool2d_backward(dy, workspace, x.shape(), window),
               naive_maxpool_backward(x, dy, k, s, p), 1e-6);
}

TEST(BackwardOps, MaxPoolSendsGradientsToTheMaximaOfOverlappingWindows) {
  expect_maxpool_backward_matches_naive(random_tensor({2, 13, 11, 8}, 41), 3, 2, 1);
  expect_maxpool_backward_matches_naive(random_tensor({1, 16, 16, 64}, 42), 3, 2, 1);
  expect_maxpool_backward_matches_naive(random_tensor({2, 9, 9, 5}, 43), 3, 1, 1);
}

TEST(BackwardOps, MaxPoolGivesTiesToTheFirstMaximumAsPyTorch) {
  expect_maxpool_backward_matches_naive(integer_tensor({2, 13, 11, 8}, 44, 0, 2), 3, 2, 1);
  expect_maxpool_backward_matches_naive(integer_tensor({1, 8, 8, 16}, 45, 0, 1), 3, 1, 1);
  expect_maxpool_backward_matches_naive(Tensor::full({1, 6, 6, 4}, 1.0f), 3, 2, 1);  // every window a tie
}

TEST(BackwardOps, MaxPoolBackwardRejectsAWorkspaceOfAnotherShape) {
  Tensor workspace;
  ops::maxpool2d_forward_training(random_tensor({1, 8, 8, 4}, 46), Window::square(3, 2, 1), workspace);
  EXPECT_THROW(
      ops::maxpool2d_backward(Tensor({1, 8, 8, 4}), workspace, {1, 16, 16, 4}, Window::square(3, 2, 1)),
      InternalError);
}

// Bin (i, j) averages rows [floor(i*H/OH), ceil((i+1)*H/OH)) and likewise columns: each dy spreads evenly.
Tensor naive_adaptive_avgpool_backward(const Tensor& dy, const Shape& x_shape) {
  const int64_t n = x_shape[0], h = x_shape[1], w = x_shape[2], c = x_shape[3];
  const int64_t oh = dy.dim(1), ow = dy.dim(2);
  std::vector<double> dx(static_cast<size_t>(shape_numel(x_shape)));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j) {
        const int64_t h0 = i * h / oh, h1 = ((i + 1) * h + oh - 1) / oh;
        const int64_t w0 = j * w / ow, w1 = ((j + 1) * w + ow - 1) / ow;
        for (int64_t ch = 0; ch < c; ++ch) {
          const double share = dy.f32()[((b * oh + i) * ow + j) * c + ch] / double((h1 - h0) * (w1 - w0));
          for (int64_t r = h0; r < h1; ++r)
            for (int64_t q = w0; q < w1; ++q) dx[((b * h + r) * w + q) * c + ch] += share;
        }
      }
  return from_doubles(x_shape, dx);
}

void expect_adaptive_avgpool_backward_matches_naive(const Shape& x_shape, int64_t oh, int64_t ow) {
  const Tensor dy = random_tensor({x_shape[0], oh, ow, x_shape[3]}, 50);
  expect_close(ops::adaptive_avgpool2d_backward(dy, x_shape), naive_adaptive_avgpool_backward(dy, x_shape),
               1e-6);
}

TEST(BackwardOps, AdaptiveAvgPoolTo1x1SpreadsEachGradientOverThePlane) {
  expect_adaptive_avgpool_backward_matches_naive({2, 7, 7, 40}, 1, 1);
}

TEST(BackwardOps, AdaptiveAvgPoolDivisibleSpreadsOverEachBin) {
  expect_adaptive_avgpool_backward_matches_naive({2, 14, 14, 16}, 7, 7);
}

TEST(BackwardOps, AdaptiveAvgPoolNonDivisibleAddsOverOverlappingBins) {
  expect_adaptive_avgpool_backward_matches_naive({2, 7, 11, 19}, 3, 5);
}

TEST(BackwardOps, LinearMatchesNaiveWithAndWithoutBiasAndAccumulates) {
  const int64_t n = 5, k = 37, o = 11;
  const Tensor x = random_tensor({n, k}, 60), w = random_tensor({o, k}, 61), dy = random_tensor({n, o}, 62);
  std::vector<double> dx(n * k), dw(o * k), db(o);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < o; ++j) {
      const double d = dy.f32()[i * o + j];
      db[j] += d;
      for (int64_t q = 0; q < k; ++q) {
        dx[i * k + q] += d * w.f32()[j * k + q];
        dw[j * k + q] += d * x.f32()[i * k + q];
      }
    }
  expect_close(ops::linear_backward_data(dy, w), from_doubles({n, k}, dx));
  for (bool with_bias : {true, false}) {
    Tensor dw_acc = Tensor::zeros({o, k}), db_acc = Tensor::zeros({o});
    ops::linear_backward_weights(x, dy, dw_acc, with_bias ? &db_acc : nullptr);
    ops::linear_backward_weights(x, dy, dw_acc, with_bias ? &db_acc : nullptr);
    std::vector<double> dw2 = dw, db2 = db;
    for (double& v : dw2) v *= 2;
    for (double& v : db2) v *= with_bias ? 2 : 0;
    expect_close(dw_acc, from_doubles({o, k}, dw2));
    expect_close(db_acc, from_doubles({o}, db2));
  }
}

// torch's relu backward: the gradient passes where the output is positive (so not at x = 0).
TEST(BackwardOps, ReluPassesGradientWhereTheOutputIsPositive) {
  const Tensor x = Tensor::from_vector({1, 2, 2, 2}, {-1.5f, 0.0f, 2.0f, -0.0f, 3.25f, -7.0f, 1e-8f, -1e-8f});
  const Tensor dy = Tensor::from_vector({1, 2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  const Tensor dx = ops::relu_backward(dy, ops::relu_forward(x));
  expect_close(dx, Tensor::from_vector({1, 2, 2, 2}, {0, 0, 3, 0, 5, 0, 7, 0}), 0.0);
}

TEST(BackwardOps, AddToAddsInPlace) {
  Tensor acc = random_tensor({2, 3, 4, 5}, 70);
  const Tensor before = acc.clone(), x = random_tensor({2, 3, 4, 5}, 71);
  ops::add_to(acc, x);
  Tensor expected(acc.shape());
  for (int64_t i = 0; i < acc.numel(); ++i) expected.f32()[i] = before.f32()[i] + x.f32()[i];
  expect_close(acc, expected, 0.0);
  EXPECT_THROW(ops::add_to(acc, Tensor({5, 4, 3, 2})), InputError);
}

// Layers: backward uses what the train-mode forward kept, accumulates into Parameter::grad, and refuses to
// run without such a forward.

TEST(BackwardLayers, Conv2dAccumulatesWeightAndBiasGradientsOverTwoBackwards) {
  Conv2d conv("conv", {.in_channels = 4, .out_channels = 6, .window = Window::square(3, 2, 1), .bias = true});
  conv.weight().value.copy_from(random_tensor({6, 4, 3, 3}, 80));
  conv.bias()->value.copy_from(random_tensor({6}, 81));
  const Tensor x = random_tensor({2, 7, 7, 4}, 82);
  const Tensor dy = random_tensor({2, 4, 4, 6}, 83);
  const ConvGrads once = naive_conv_backward(x, conv.weight().value, dy, conv.options().window);
  for (int step = 0; step < 2; ++step) {
    conv.forward(x);
    expect_close(conv.backward(dy), once.dx);
  }
  Tensor twice_dw(once.dw.shape()), twice_db(once.dbias.shape());
  for (int64_t i = 0; i < once.dw.numel(); ++i) twice_dw.f32()[i] = 2 * once.dw.f32()[i];
  for (int64_t i = 0; i < once.dbias.numel(); ++i) twice_db.f32()[i] = 2 * once.dbias.f32()[i];
  expect_close(conv.weight().grad, twice_dw);
  expect_close(conv.bias()->grad, twice_db);
  conv.zero_grad();
  EXPECT_EQ(conv.weight().grad.f32()[0], 0.0f);
}

TEST(BackwardLayers, BackwardAfterAnEvalForwardIsAnInternalError) {
  Conv2d conv("layer1.0.conv1", {.in_channels = 4, .out_channels = 4, .window = Window::square(3, 1, 1)});
  BatchNorm2d bn("layer1.0.bn1", 4);
  ReLU relu("layer1.0.relu");
  MaxPool2d pool("maxpool", Window::square(3, 2, 1));
  AdaptiveAvgPool2d avgpool("avgpool", 1, 1);
  Linear fc("fc", 4, 3);
  const Tensor x = random_tensor({2, 5, 5, 4}, 90);
  for (Module* m : std::vector<Module*>{&conv, &bn, &relu, &pool, &avgpool}) {
    m->set_training(false);
    const Tensor y = m->forward(x);
    try {
      m->backward(y);
      ADD_FAILURE() << m->path() << ": no error";
    } catch (const InternalError& e) {
      EXPECT_NE(std::string(e.what()).find(m->path() + " ("), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("eval mode"), std::string::npos) << e.what();
    }
  }
  fc.set_training(false);
  fc.forward(random_tensor({2, 4}, 91));
  EXPECT_THROW(fc.backward(Tensor({2, 3})), InternalError);
}

// Like torch's graph, what a forward keeps is used by one backward and then released.
TEST(BackwardLayers, SecondBackwardWithoutForwardIsAnInternalError) {
  BatchNorm2d bn("bn1", 4);
  const Tensor x = random_tensor({2, 5, 5, 4}, 92);
  const Tensor y = bn.forward(x);
  bn.backward(y);
  EXPECT_THROW(bn.backward(y), InternalError);
}

TEST(BackwardLayers, MaxPool2dTrainForwardEqualsEvalForwardAndBackpropagatesToMaxima) {
  MaxPool2d pool("maxpool", Window::square(3, 2, 1));
  const Tensor x = random_tensor({2, 9, 9, 8}, 93);
  pool.set_training(false);
  const Tensor eval_y = pool.forward(x);
  pool.set_training(true);
  const Tensor y = pool.forward(x);
  expect_close(y, eval_y, 0.0);
  const Tensor dy = random_tensor(y.shape(), 94);
  expect_close(pool.backward(dy), naive_maxpool_backward(x, dy, 3, 2, 1), 1e-6);
}

// The forward of x = 1 shows the mask itself; backward multiplies by the same mask.
TEST(BackwardLayers, DropoutBackwardMultipliesByTheForwardMask) {
  for (bool per_channel : {false, true}) {
    Dropout dropout("dropout", 0.4f, per_channel, 7);
    const Tensor ones = Tensor::full({3, 4, 5, 6}, 1.0f);
    const Tensor mask = dropout.forward(ones);
    const Tensor dy = random_tensor(ones.shape(), 95);
    const Tensor dx = dropout.backward(dy);
    Tensor expected(dy.shape());
    int64_t dropped = 0;
    for (int64_t i = 0; i < dy.numel(); ++i) {
      expected.f32()[i] = dy.f32()[i] * mask.f32()[i];
      dropped += mask.f32()[i] == 0.0f;
    }
    expect_close(dx, expected, 0.0);
    EXPECT_GT(dropped, 0);
    if (per_channel) {  // Dropout2d: one draw per sample and channel, the same over H and W
      for (int64_t i = 0; i < mask.numel(); ++i)
        EXPECT_EQ(mask.f32()[i], mask.f32()[i % 6 + (i / 120) * 120]);
    }
  }
}

}  // namespace
}  // namespace resnet
