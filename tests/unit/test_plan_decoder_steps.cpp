// The plan's decoder steps (a U-Net's): x2 nearest upsampling and channel concat, on a hand-built Program
//   conv(+relu) -> conv stride 2 (+relu) -> upsample x2 -> concat with the first conv's output -> conv(+relu)
// run through the plan equal the same computed with the layer-by-layer ops and naive loops, f32 and bf16.
#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

#include "dnnl/ops.h"
#include "infer/plan_compiler.h"
#include "infer/program.h"
#include "infer/quantize_program.h"
#include "resnet/calibration.h"
#include "resnet/error.h"
#include "resnet/plan.h"
#include "unit/op_test_util.h"
#include "unit/plan_test_util.h"

namespace resnet {
namespace {

using infer::Program;
using infer::Step;
using infer::StepKind;
using test::random_tensor;
using test::relative_difference;

// x [N,H,W,C] -> [N,2H,2W,C]: out[n,y,x,c] = x[n,y/2,x/2,c].
Tensor naive_upsample_nearest(const Tensor& x) {
  const int64_t n = x.dim(0), h = x.dim(1), w = x.dim(2), c = x.dim(3);
  Tensor out = Tensor::empty({n, 2 * h, 2 * w, c});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t y = 0; y < 2 * h; ++y)
      for (int64_t xx = 0; xx < 2 * w; ++xx)
        for (int64_t ch = 0; ch < c; ++ch)
          out.f32()[((i * 2 * h + y) * 2 * w + xx) * c + ch] =
              x.f32()[((i * h + y / 2) * w + xx / 2) * c + ch];
  return out;
}

// [N,H,W,C1] + [N,H,W,C2] -> [N,H,W,C1+C2], a's channels first.
Tensor naive_concat(const Tensor& a, const Tensor& b) {
  const int64_t pixels = a.numel() / a.dim(3), ca = a.dim(3), cb = b.dim(3);
  Tensor out = Tensor::empty({a.dim(0), a.dim(1), a.dim(2), ca + cb});
  for (int64_t p = 0; p < pixels; ++p) {
    for (int64_t c = 0; c < ca; ++c) out.f32()[p * (ca + cb) + c] = a.f32()[p * ca + c];
    for (int64_t c = 0; c < cb; ++c) out.f32()[p * (ca + cb) + ca + c] = b.f32()[p * cb + c];
  }
  return out;
}

Step conv_step(const std::string& name, int src, int dst, int64_t in, int64_t out, int64_t stride,
               uint32_t seed) {
  return {.kind = StepKind::conv,
          .name = name,
          .src = src,
          .dst = dst,
          .relu = true,
          .window = Window::square(3, stride, 1),
          .weight = random_tensor({out, in, 3, 3}, seed, -0.3f, 0.3f),
          .bias = random_tensor({out}, seed + 1, -0.1f, 0.1f)};
}

// in -> conv1 [c1] -> conv2 stride 2 [c2] -> upsample -> concat(up, conv1) [c2 + c1] -> conv3 [5]: the
// named output "head".
Program decoder_program(int64_t in, int64_t c1, int64_t c2) {
  Program p;
  p.in_channels = in;
  p.num_values = 6;
  p.steps.push_back(conv_step("conv1", 0, 1, in, c1, 1, 10));
  p.steps.push_back(conv_step("conv2", 1, 2, c1, c2, 2, 20));
  p.steps.push_back({.kind = StepKind::upsample_nearest, .name = "up", .src = 2, .dst = 3});
  p.steps.push_back({.kind = StepKind::concat, .name = "cat", .src = 3, .src2 = 1, .dst = 4});
  p.steps.push_back(conv_step("conv3", 4, 5, c2 + c1, 5, 1, 30));
  p.outputs = {{"head", 5}, {"skip", 1}};
  return p;
}

Tensor conv_relu(const Tensor& x, const Step& s) {
  return ops::relu_forward(ops::conv2d_forward(x, s.weight, s.bias, s.window));
}

// The program computed with the layer-by-layer ops: {head, skip}.
std::vector<Tensor> reference(const Program& p, const Tensor& x) {
  const Tensor v1 = conv_relu(x, p.steps[0]);
  const Tensor v2 = conv_relu(v1, p.steps[1]);
  const Tensor v4 = naive_concat(naive_upsample_nearest(v2), v1);
  return {conv_relu(v4, p.steps[4]), v1};
}

class DecoderSteps : public ::testing::TestWithParam<std::tuple<int64_t, int64_t, Precision>> {};

TEST_P(DecoderSteps, UpsampleAndConcatEqualTheLayerByLayerOps) {
  const auto [c1, c2, precision] = GetParam();
  const Program program = decoder_program(3, c1, c2);
  const Tensor x = random_tensor({2, 10, 12, 3}, 7);
  const std::vector<Tensor> expected = reference(program, x);
  for (const bool winograd : {true, false}) {
    InferencePlan plan =
        infer::PlanCompiler::compile(program, precision, x.shape(), PlanOptions{.winograd = winograd});
    EXPECT_EQ(plan.output_names(), (std::vector<std::string>{"head", "skip"}));
    EXPECT_EQ(plan.output_shapes(), (std::vector<Shape>{{2, 10, 12, 5}, {2, 10, 12, c1}}));
    const std::vector<Tensor> got = plan.run_features(x);
    ASSERT_EQ(got.size(), 2u);
    // bf16: bf16 weights and activations over three convolutions (8 bits of mantissa each).
    const double tolerance = precision == Precision::f32 ? 1e-5 : 3e-2;
    EXPECT_LT(relative_difference(got[0], expected[0]), tolerance) << plan.describe();
    EXPECT_LT(relative_difference(got[1], expected[1]), tolerance);
  }
}

INSTANTIATE_TEST_SUITE_P(Channels, DecoderSteps,
                         ::testing::Values(std::make_tuple(16, 32, Precision::f32),
                                           std::make_tuple(20, 12, Precision::f32),
                                           std::make_tuple(16, 32, Precision::bf16),
                                           std::make_tuple(20, 12, Precision::bf16)));

TEST(DecoderSteps, SubBatchPassesGiveTheSameFeatures) {
  const Program program = decoder_program(3, 16, 32);
  const Tensor x = random_tensor({5, 8, 8, 3}, 8);
  const std::vector<Tensor> whole =
      infer::PlanCompiler::compile(program, Precision::f32, x.shape()).run_features(x);
  const std::vector<Tensor> passes =
      infer::PlanCompiler::compile(program, Precision::f32, x.shape(), PlanOptions{.sub_batch = 2})
          .run_features(x);
  for (size_t o = 0; o < whole.size(); ++o) EXPECT_LT(relative_difference(passes[o], whole[o]), 1e-6);
}

TEST(DecoderSteps, ShapingRefusesAConcatOfDifferentSizes) {
  Program p = decoder_program(3, 16, 32);
  p.steps[3].src = 2;  // the half-size conv2 output with the full-size conv1 output
  EXPECT_THROW(infer::shape_program(p, {1, 8, 8, 3}), InputError);
}

TEST(DecoderSteps, OutputsLiveToTheEnd) {
  const Program p = decoder_program(3, 16, 32);
  const std::vector<infer::Lifetime> lives = infer::value_lifetimes(p);
  const int end = static_cast<int>(p.steps.size()) + 1;
  EXPECT_EQ(lives[1].last, end);  // "skip", read last by the concat at time 4
  EXPECT_EQ(lives[5].last, end);
  EXPECT_EQ(lives[2].last, 3);  // read by the upsample only
}

TEST(DecoderSteps, Int8RefusesThem) {
  Program p = decoder_program(3, 16, 32);
  p.outputs.clear();
  p.output = 5;
  Int8Calibration calibration;
  try {
    infer::quantize_program(p, calibration);
    FAIL() << "no InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("upsample_nearest"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace resnet
