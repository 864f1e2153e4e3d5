// The forward kernels (src/dnnl/ops.h) against naive loops written here: the loops are the specification.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "dnnl/ops.h"
#include "resnet/error.h"
#include "unit/op_test_util.h"

namespace resnet {
namespace {

using test::expect_close;
using test::random_tensor;

// x [N,H,W,C], w [O,C/g,KH,KW], bias [O] or undefined -> [N,OH,OW,O], accumulated in double.
Tensor naive_conv(const Tensor& x, const Tensor& w, const Tensor& bias, const Window& s) {
  const int64_t n = x.dim(0), h = x.dim(1), wd = x.dim(2), c = x.dim(3);
  const int64_t o = w.dim(0), icg = w.dim(1), kh = w.dim(2), kw = w.dim(3);
  const int64_t ocg = o / s.groups;
  const int64_t oh = (h + 2 * s.pad_h - s.dilation_h * (kh - 1) - 1) / s.stride_h + 1;
  const int64_t ow = (wd + 2 * s.pad_w - s.dilation_w * (kw - 1) - 1) / s.stride_w + 1;
  Tensor y({n, oh, ow, o});
  const float *xp = x.f32(), *wp = w.f32();
  float* yp = y.f32();
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t oc = 0; oc < o; ++oc) {
          const int64_t g = oc / ocg;
          double acc = bias.defined() ? bias.f32()[oc] : 0.0;
          for (int64_t ic = 0; ic < icg; ++ic)
            for (int64_t r = 0; r < kh; ++r)
              for (int64_t q = 0; q < kw; ++q) {
                const int64_t hi = i * s.stride_h - s.pad_h + r * s.dilation_h;
                const int64_t wi = j * s.stride_w - s.pad_w + q * s.dilation_w;
                if (hi < 0 || hi >= h || wi < 0 || wi >= wd) continue;
                acc += double(xp[((b * h + hi) * wd + wi) * c + g * icg + ic]) *
                       double(wp[((oc * icg + ic) * kh + r) * kw + q]);
              }
          yp[((b * oh + i) * ow + j) * o + oc] = float(acc);
        }
  return y;
}

// x [..., C] normalized per channel with the given statistics.
Tensor naive_batchnorm(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const std::vector<double>& mean, const std::vector<double>& var, double eps) {
  const int64_t c = x.dim(-1);
  Tensor y(x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t k = i % c;
    y.f32()[i] = float((x.f32()[i] - mean[k]) / std::sqrt(var[k] + eps) * weight.f32()[k] + bias.f32()[k]);
  }
  return y;
}

// Padding is -inf: a window's maximum is over the input positions it covers.
Tensor naive_maxpool(const Tensor& x, int64_t k, int64_t s, int64_t p) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  const int64_t oh = (h + 2 * p - k) / s + 1, ow = (w + 2 * p - k) / s + 1;
  Tensor y({n, oh, ow, c});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t ch = 0; ch < c; ++ch) {
          float m = -std::numeric_limits<float>::infinity();
          for (int64_t r = i * s - p; r < i * s - p + k; ++r)
            for (int64_t q = j * s - p; q < j * s - p + k; ++q)
              if (r >= 0 && r < h && q >= 0 && q < w)
                m = std::max(m, x.f32()[((b * h + r) * w + q) * c + ch]);
          y.f32()[((b * oh + i) * ow + j) * c + ch] = m;
        }
  return y;
}

// Bin i averages [floor(i*H/OH), ceil((i+1)*H/OH)), as torch.nn.AdaptiveAvgPool2d.
Tensor naive_adaptive_avgpool(const Tensor& x, int64_t oh, int64_t ow) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  Tensor y({n, oh, ow, c});
  for (int64_t b = 0; b < n; ++b)
    for (int64_t i = 0; i < oh; ++i)
      for (int64_t j = 0; j < ow; ++j)
        for (int64_t ch = 0; ch < c; ++ch) {
          const int64_t h0 = i * h / oh, h1 = ((i + 1) * h + oh - 1) / oh;
          const int64_t w0 = j * w / ow, w1 = ((j + 1) * w + ow - 1) / ow;
          double sum = 0;
          for (int64_t r = h0; r < h1; ++r)
            for (int64_t q = w0; q < w1; ++q) sum += x.f32()[((b * h + r) * w + q) * c + ch];
          y.f32()[((b * oh + i) * ow + j) * c + ch] = float(sum / double((h1 - h0) * (w1 - w0)));
        }
  return y;
}

void expect_conv_matches_naive(Shape x_shape, Shape w_shape, bool with_bias, const Window& spec) {
  Tensor x = random_tensor(x_shape, 1);
  Tensor w = random_tensor(w_shape, 2);
  Tensor bias = with_bias ? random_tensor({w_shape[0]}, 3) : Tensor();
  expect_close(ops::conv2d_forward(x, w, bias, spec), naive_conv(x, w, bias, spec));
}

TEST(Ops, ConvOutputSizeFollowsPyTorchFloorFormula) {
  EXPECT_EQ(window_output_size(224, 7, 2, 3, 1), 112);
  EXPECT_EQ(window_output_size(13, 3, 2, 1, 1), 7);
  EXPECT_EQ(window_output_size(14, 1, 2, 0, 1), 7);
  EXPECT_EQ(window_output_size(11, 3, 1, 2, 2), 11);
  // Too small an input: floor(-2 / 2) + 1 = 0, where truncating division would claim one output row.
  EXPECT_EQ(window_output_size(3, 5, 2, 0, 1), 0);
}

TEST(Ops, ConvMatchesNaiveForStemKernel7Stride2Padding3WithBias) {
  expect_conv_matches_naive({2, 13, 11, 3}, {8, 3, 7, 7}, true, Window::square(7, 2, 3));
}

TEST(Ops, ConvMatchesNaiveForStemKernel7Stride2Padding3WithoutBias) {
  expect_conv_matches_naive({1, 14, 14, 3}, {16, 3, 7, 7}, false, Window::square(7, 2, 3));
}

TEST(Ops, ConvMatchesNaiveWithGroupsAndDilation) {
  expect_conv_matches_naive({2, 13, 11, 64}, {64, 2, 3, 3}, false, Window::square(3, 1, 2, 2, 32));
}

TEST(Ops, ConvMatchesNaiveWithGroupsStride2AndBias) {
  expect_conv_matches_naive({1, 13, 11, 64}, {128, 2, 3, 3}, true, Window::square(3, 2, 1, 1, 32));
}

// 1x1 stride 2 on odd and even sizes: the last row/column of the input is unused, so no right padding at all.
TEST(Ops, ConvMatchesNaiveForStridedPointwiseOnOddSizes) {
  expect_conv_matches_naive({2, 13, 11, 16}, {24, 16, 1, 1}, false, Window::square(1, 2, 0));
  expect_conv_matches_naive({2, 14, 12, 16}, {24, 16, 1, 1}, true, Window::square(1, 2, 0));
}

TEST(Ops, ConvMatchesNaiveFor3x3Stride2Padding1OnOddSizes) {
  expect_conv_matches_naive({2, 13, 11, 32}, {32, 32, 3, 3}, true, Window::square(3, 2, 1));
  expect_conv_matches_naive({2, 14, 14, 32}, {32, 32, 3, 3}, false, Window::square(3, 2, 1));
}

TEST(Ops, ConvMatchesNaiveWithDilation2AndNoPadding) {
  expect_conv_matches_naive({1, 13, 11, 8}, {8, 8, 3, 3}, true, Window::square(3, 1, 0, 2));
}

// Weights change between steps in training; the result must follow them although the primitive is cached.
TEST(Ops, ConvUsesCurrentWeightsOnEveryCall) {
  Tensor x = random_tensor({1, 9, 9, 16}, 4);
  Tensor w = random_tensor({32, 16, 3, 3}, 5);
  const Window spec = Window::square(3, 1, 1);
  expect_close(ops::conv2d_forward(x, w, Tensor(), spec), naive_conv(x, w, Tensor(), spec));
  for (int64_t i = 0; i < w.numel(); ++i) w.f32()[i] *= -0.5f;
  expect_close(ops::conv2d_forward(x, w, Tensor(), spec), naive_conv(x, w, Tensor(), spec));
}

TEST(Ops, ConvFromTwoThreadsAtOnceMatchesNaive) {
  Tensor x = random_tensor({2, 15, 15, 32}, 6);
  Tensor w = random_tensor({64, 32, 3, 3}, 7);
  const Window spec = Window::square(3, 1, 1);
  const Tensor expected = naive_conv(x, w, Tensor(), spec);
  Tensor results[2];
  std::thread t0([&] { results[0] = ops::conv2d_forward(x, w, Tensor(), spec); });
  std::thread t1([&] { results[1] = ops::conv2d_forward(x, w, Tensor(), spec); });
  t0.join();
  t1.join();
  expect_close(results[0], expected);
  expect_close(results[1], expected);
}

TEST(Ops, ConvRejectsInputWhoseChannelsDoNotMatchWeight) {
  EXPECT_THROW(
      ops::conv2d_forward(Tensor({1, 8, 8, 3}), Tensor({8, 4, 3, 3}), Tensor(), Window::square(3, 1, 1)),
      InputError);
  EXPECT_THROW(
      ops::conv2d_forward(Tensor({1, 2, 2, 3}), Tensor({8, 3, 7, 7}), Tensor(), Window::square(7, 1, 0)),
      InputError);
}

// The window's kernel and the weight's KH x KW describe the same thing twice: they must agree.
TEST(Ops, ConvRejectsAWindowWhoseKernelIsNotTheWeights) {
  EXPECT_THROW(
      ops::conv2d_forward(Tensor({1, 8, 8, 3}), Tensor({8, 3, 3, 3}), Tensor(), Window::square(1, 1, 1)),
      InputError);
  const Window five_by_three{.kernel_h = 5, .kernel_w = 3};
  EXPECT_THROW(ops::conv2d_forward(Tensor({1, 8, 8, 3}), Tensor({8, 3, 3, 5}), Tensor(), five_by_three),
               InputError);
}

TEST(Ops, BatchNormInferenceNormalizesWithRunningStatistics) {
  const int64_t c = 24;
  Tensor x = random_tensor({2, 7, 5, c}, 8, -3.0f, 5.0f);
  Tensor weight = random_tensor({c}, 9), bias = random_tensor({c}, 10);
  Tensor mean = random_tensor({c}, 11), var = random_tensor({c}, 12, 0.1f, 2.0f);
  const float eps = 1e-5f;
  Tensor y = ops::batchnorm_forward_inference(x, weight, bias, mean, var, eps);
  expect_close(y, naive_batchnorm(x, weight, bias, std::vector<double>(mean.f32(), mean.f32() + c),
                                  std::vector<double>(var.f32(), var.f32() + c), eps));
}

TEST(Ops, BatchNormTrainingReturnsBatchMeanAndBiasedVariance) {
  const int64_t c = 16;
  Tensor x = random_tensor({3, 5, 7, c}, 13, -2.0f, 4.0f);
  Tensor weight = random_tensor({c}, 14), bias = random_tensor({c}, 15);
  const float eps = 1e-5f;
  Tensor batch_mean, batch_var;
  Tensor y = ops::batchnorm_forward_training(x, weight, bias, eps, batch_mean, batch_var);

  const int64_t count = x.numel() / c;
  std::vector<double> mean(c, 0.0), var(c, 0.0);
  for (int64_t i = 0; i < x.numel(); ++i) mean[i % c] += x.f32()[i] / double(count);
  for (int64_t i = 0; i < x.numel(); ++i) var[i % c] += std::pow(x.f32()[i] - mean[i % c], 2) / double(count);
  ASSERT_EQ(batch_mean.shape(), Shape({c}));
  ASSERT_EQ(batch_var.shape(), Shape({c}));
  for (int64_t k = 0; k < c; ++k) {
    EXPECT_NEAR(batch_mean.f32()[k], mean[k], 1e-4 * (1 + std::abs(mean[k])));
    EXPECT_NEAR(batch_var.f32()[k], var[k], 1e-4 * (1 + var[k]));
  }
  expect_close(y, naive_batchnorm(x, weight, bias, mean, var, eps));
}

// All inputs negative: zero padding instead of -inf would show up as zeros on the border.
TEST(Ops, MaxPoolMatchesNaiveOnOddSizesWithMinusInfinityPadding) {
  for (Shape shape : {Shape{2, 13, 11, 8}, Shape{1, 14, 14, 64}, Shape{1, 7, 9, 3}}) {
    Tensor x = random_tensor(shape, 16, -5.0f, -1.0f);
    expect_close(ops::maxpool2d_forward(x, Window::square(3, 2, 1)), naive_maxpool(x, 3, 2, 1), 0.0);
  }
}

TEST(Ops, MaxPoolRejectsDilatedOrGroupedWindows) {
  const Tensor x = random_tensor({1, 9, 9, 4}, 19);
  EXPECT_THROW(ops::maxpool2d_forward(x, Window::square(3, 2, 1, /*dilation=*/2)), InputError);
  EXPECT_THROW(ops::maxpool2d_forward(x, Window::square(3, 2, 1, 1, /*groups=*/2)), InputError);
}

TEST(Ops, AdaptiveAvgPoolTo1x1IsTheSpatialMean) {
  Tensor x = random_tensor({2, 7, 7, 40}, 17);
  expect_close(ops::adaptive_avgpool2d_forward(x, 1, 1), naive_adaptive_avgpool(x, 1, 1));
}

TEST(Ops, AdaptiveAvgPoolTo7x7From14x14AveragesTwoByTwo) {
  Tensor x = random_tensor({2, 14, 14, 16}, 18);
  expect_close(ops::adaptive_avgpool2d_forward(x, 7, 7), naive_adaptive_avgpool(x, 7, 7));
}

TEST(Ops, AdaptiveAvgPoolToNonDivisible3x5From7x11UsesOverlappingBins) {
  Tensor x = random_tensor({2, 7, 11, 19}, 19);
  expect_close(ops::adaptive_avgpool2d_forward(x, 3, 5), naive_adaptive_avgpool(x, 3, 5));
}

TEST(Ops, LinearMatchesNaiveWithAndWithoutBias) {
  const int64_t n = 5, k = 37, o = 11;
  Tensor x = random_tensor({n, k}, 20), w = random_tensor({o, k}, 21), bias = random_tensor({o}, 22);
  for (bool with_bias : {true, false}) {
    Tensor expected({n, o});
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < o; ++j) {
        double acc = with_bias ? bias.f32()[j] : 0.0;
        for (int64_t q = 0; q < k; ++q) acc += double(x.f32()[i * k + q]) * w.f32()[j * k + q];
        expected.f32()[i * o + j] = float(acc);
      }
    expect_close(ops::linear_forward(x, w, with_bias ? bias : Tensor()), expected);
  }
}

TEST(Ops, ReluZeroesNegativesAndKeepsPositives) {
  Tensor x = Tensor::from_vector({1, 2, 2, 2}, {-1.5f, 0.0f, 2.0f, -0.0f, 3.25f, -7.0f, 1e-8f, -1e-8f});
  Tensor y = ops::relu_forward(x);
  expect_close(y, Tensor::from_vector({1, 2, 2, 2}, {0.0f, 0.0f, 2.0f, 0.0f, 3.25f, 0.0f, 1e-8f, 0.0f}), 0.0);
  EXPECT_EQ(x.f32()[0], -1.5f) << "relu_forward must not modify its input";
}

TEST(Ops, AddSumsElementwise) {
  Tensor a = random_tensor({2, 5, 3, 7}, 23), b = random_tensor({2, 5, 3, 7}, 24);
  Tensor expected(a.shape());
  for (int64_t i = 0; i < a.numel(); ++i) expected.f32()[i] = a.f32()[i] + b.f32()[i];
  expect_close(ops::add(a, b), expected, 0.0);
}

TEST(Ops, AddReluIsTheReluOfTheSumInOnePass) {
  Tensor a = random_tensor({2, 5, 3, 7}, 25), b = random_tensor({2, 5, 3, 7}, 26);
  Tensor expected(a.shape());
  int64_t negative = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const float sum = a.f32()[i] + b.f32()[i];
    negative += sum < 0.0f;
    expected.f32()[i] = std::max(sum, 0.0f);
  }
  ASSERT_GT(negative, a.numel() / 4);  // the ReLU has something to cut
  expect_close(ops::add_relu(a, b), expected, 0.0);
  EXPECT_THROW(ops::add_relu(Tensor({2, 3}), Tensor({3, 2})), InputError);
}

// A residual block's input gradient (two parts) and the ReLU before the block, in one pass: the same bits as
// add() then relu_backward(), f32 and bf16.
TEST(Ops, ReluBackwardOfASumIsTheReluBackwardOfTheAddedParts) {
  const Tensor a = random_tensor({2, 5, 3, 7}, 27), b = random_tensor({2, 5, 3, 7}, 28);
  const Tensor y = ops::relu_forward(random_tensor({2, 5, 3, 7}, 29));
  const Tensor a_given = a.clone();
  const Tensor fused = ops::relu_backward_sum(a_given, b, y);
  EXPECT_EQ(fused.data(), a_given.data());  // written over a: no new activation-sized tensor
  int64_t masked = 0;
  for (int64_t i = 0; i < y.numel(); ++i) masked += y.f32()[i] == 0.0f;
  ASSERT_GT(masked, y.numel() / 4);  // the mask has something to cut
  expect_close(fused, ops::relu_backward(ops::add(a, b), y), 0.0);
  const Tensor a16 = ops::convert(a, DType::bf16), b16 = ops::convert(b, DType::bf16);
  const Tensor y16 = ops::convert(y, DType::bf16);
  expect_close(ops::convert(ops::relu_backward_sum(a16.clone(), b16, y16), DType::f32),
               ops::convert(ops::relu_backward(ops::add(a16, b16), y16), DType::f32), 0.0);
  EXPECT_THROW(ops::relu_backward_sum(a.clone(), Tensor({2, 5, 3, 6}), y), InputError);
  EXPECT_THROW(ops::relu_backward_sum(a.clone(), b, Tensor({2, 5, 3, 6})), InputError);
}

TEST(Ops, AddRejectsDifferentShapes) {
  EXPECT_THROW(ops::add(Tensor({2, 3}), Tensor({3, 2})), InputError);
}

TEST(Ops, SetNumThreadsControlsThreadCount) {
  const int before = ops::num_threads();
  ops::set_num_threads(1);
  EXPECT_EQ(ops::num_threads(), 1);
  ops::set_num_threads(0);
  EXPECT_GE(ops::num_threads(), 1);
  ops::set_num_threads(before);
}

}  // namespace
}  // namespace resnet
