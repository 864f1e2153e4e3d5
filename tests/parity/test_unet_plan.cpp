// The U-Net through the fused inference plan (InferencePlan::compile(UNet&), infer::lower_unet), on the
// fixtures of tests/oracle/make_unet_fixtures.py (smp 0.6, in $RESNET_FIXTURES/unet; every case of its
// unet.json): the f32 plan's logits [N,H,W,K] equal the layer-by-layer model's and smp's eval logits within
// 1e-4 relative, with Winograd and without; the bf16 plan within kBf16Tolerance (5e-2). An int8 plan and an
// input whose size is not a multiple of 2^depth are refused with an InputError.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "infer/lower.h"
#include "parity/fixtures.h"
#include "resnet/error.h"
#include "resnet/load_state_dict.h"
#include "resnet/plan.h"
#include "resnet/unet.h"
#include "resnet/weights.h"

namespace resnet::parity {
namespace {

// bf16 plan vs smp's f32 eval logits: bf16 weights and activations (8-bit mantissa) through 20-60 layers.
// Measured on these fixtures (AVX-512 with bf16): 1.1e-2 .. 2.3e-2 of the logit scale (the worst: resnet18
// encoder, 1 channel, depth 5); the bound leaves room for other CPUs' kernels.
constexpr double kBf16Tolerance = 5e-2;

struct PlanCase {
  std::string name;
  std::unique_ptr<UNet> model;
  Tensor input;     // NHWC
  Tensor expected;  // smp's eval logits, NCHW
};

// Every case make_unet_fixtures wrote, its model loaded strictly and in eval mode.
std::vector<PlanCase> plan_cases() {
  std::vector<PlanCase> cases;
  const nlohmann::json written = load_json(fixture_path("unet/unet.json"));
  for (const nlohmann::json& c : written["cases"]) {
    const std::string name = c["name"];
    UNetConfig config = unet_zoo_config("unet-" + c["encoder"].get<std::string>(), c["classes"].get<int>(),
                                        c["in_channels"].get<int>(), c["depth"].get<int>(),
                                        c["decoder_channels"].get<std::vector<int>>());
    auto model = std::make_unique<UNet>(config, /*seed=*/1, Init::none);
    load_state_dict(*model, load_weights(fixture_path("unet/" + name + ".safetensors")), /*strict=*/true);
    model->set_training(false);
    cases.push_back({name, std::move(model), nchw_to_nhwc(load_fixture_npy("unet/" + name + ".input.npy")),
                     load_fixture_npy("unet/" + name + ".eval.npy")});
  }
  return cases;
}

// ours: NHWC [N,H,W,K]; reference: NHWC or NCHW (nchw = true).
Difference expect_close(const Tensor& ours, const Tensor& reference, bool nchw, double tolerance,
                        const std::string& what) {
  const Tensor ours_in_layout = nchw ? nhwc_to_nchw(ours) : ours;
  EXPECT_EQ(shape_str(ours_in_layout.shape()), shape_str(reference.shape())) << what;
  if (ours_in_layout.shape() != reference.shape()) return {};
  const Difference d = difference(ours_in_layout, reference);
  report_difference(what, d);
  EXPECT_LE(d.ratio(), tolerance) << what;
  return d;
}

TEST(UnetPlan, F32PlanEqualsLayerByLayerModelAndSmp) {
  SKIP_WITHOUT_FIXTURES();
  for (PlanCase& c : plan_cases()) {
    const Tensor layers = c.model->forward(c.input);
    for (const bool winograd : {true, false}) {
      const std::string what = c.name + (winograd ? " plan f32" : " plan f32 --no-winograd");
      InferencePlan plan =
          InferencePlan::compile(*c.model, Precision::f32, c.input.shape(), {.winograd = winograd});
      EXPECT_EQ(plan.output_shape(), layers.shape()) << what;
      EXPECT_EQ(plan.output_names(), std::vector<std::string>{"logits"}) << what;
      const Tensor logits = plan.run(c.input);
      expect_close(logits, layers, /*nchw=*/false, kLogitsTolerance, what + " vs layer by layer");
      expect_close(logits, c.expected, /*nchw=*/true, kLogitsTolerance, what + " vs smp");
    }
  }
}

TEST(UnetPlan, Bf16PlanIsWithinItsBoundOfSmp) {
  SKIP_WITHOUT_FIXTURES();
  for (PlanCase& c : plan_cases()) {
    const Tensor logits = InferencePlan::compile(*c.model, Precision::bf16, c.input.shape()).run(c.input);
    expect_close(logits, c.expected, /*nchw=*/true, kBf16Tolerance, c.name + " plan bf16 vs smp");
  }
}

TEST(UnetPlan, SubBatchesGiveTheSameLogitsAndReshapeKeepsPixelLogits) {
  SKIP_WITHOUT_FIXTURES();
  PlanCase c = std::move(plan_cases().front());
  const Tensor whole = InferencePlan::compile(*c.model, Precision::f32, c.input.shape()).run(c.input);
  if (c.input.dim(0) > 1) {
    InferencePlan split = InferencePlan::compile(*c.model, Precision::f32, c.input.shape(), {.sub_batch = 1});
    // Another batch size may pick other kernels (Winograd groups): equal up to f32 rounding.
    EXPECT_LE(difference(split.run(c.input), whole).ratio(), kLogitsTolerance);
  }
  // The plan for another size hands back logits of that size.
  const Shape bigger = {c.input.dim(0), c.input.dim(1) * 2, c.input.dim(2), c.input.dim(3)};
  InferencePlan reshaped = InferencePlan::compile(*c.model, Precision::f32, c.input.shape()).reshaped(bigger);
  EXPECT_EQ(reshaped.output_shape(),
            (Shape{bigger[0], bigger[1], bigger[2], static_cast<int64_t>(c.expected.dim(1))}));
}

std::unique_ptr<UNet> small_unet(int depth) {
  auto model = std::make_unique<UNet>(unet_zoo_config("unet-resnet18", 3, 3, depth), /*seed=*/0);
  model->set_training(false);
  return model;
}

TEST(UnetPlan, Int8IsRefusedWithAnInputError) {
  auto model = small_unet(3);
  try {
    InferencePlan::compile(*model, Precision::int8, {1, 32, 32, 3});
    FAIL() << "int8 U-Net plan compiled";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("int8"), std::string::npos) << e.what();
  }
}

TEST(UnetPlan, SizeNotAMultipleOfTwoToTheDepthIsAnInputErrorSayingSo) {
  auto model = small_unet(4);
  try {
    InferencePlan::compile(*model, Precision::f32, {1, 40, 32, 3});
    FAIL() << "40x32 compiled for depth 4";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("multiples of 16"), std::string::npos) << e.what();
  }
  // A plan compiled at a good size refuses a reshape to a bad one too.
  InferencePlan plan = InferencePlan::compile(*model, Precision::f32, {1, 32, 32, 3});
  EXPECT_THROW(plan.reshaped({1, 32, 24, 3}), InputError);
}

// The decoder's steps, from each block's DecoderBlockStructure: upsample, concat (not in the last block),
// two convs with BN folded (no BN step exists) and the ReLU fused; the head's conv last, as the named
// per-pixel logits.
TEST(UnetPlan, LoweringGivesUpsampleConcatAndFusedConvsPerBlock) {
  auto model = small_unet(3);
  const infer::Program program = infer::lower_unet(*model);
  std::vector<std::string> decoder;
  for (const infer::Step& step : program.steps) {
    if (!step.name.starts_with("decoder.") && !step.name.starts_with("segmentation_head")) continue;
    decoder.push_back(
        fmt::format("{} {}{}", step_kind_name(step.kind), step.name, step.relu ? " +relu" : ""));
  }
  const std::vector<std::string> expected = {
      "upsample_nearest decoder.blocks.0.upsample", "concat decoder.blocks.0.concat",
      "conv decoder.blocks.0.conv1.0 +relu",        "conv decoder.blocks.0.conv2.0 +relu",
      "upsample_nearest decoder.blocks.1.upsample", "concat decoder.blocks.1.concat",
      "conv decoder.blocks.1.conv1.0 +relu",        "conv decoder.blocks.1.conv2.0 +relu",
      "upsample_nearest decoder.blocks.2.upsample", "conv decoder.blocks.2.conv1.0 +relu",
      "conv decoder.blocks.2.conv2.0 +relu",        "conv segmentation_head.0"};
  EXPECT_EQ(decoder, expected);
  ASSERT_EQ(program.outputs.size(), 1u);
  EXPECT_EQ(program.outputs[0].name, "logits");
  EXPECT_EQ(program.outputs[0].value, program.steps.back().dst);
  EXPECT_TRUE(program.pixel_logits);
  EXPECT_EQ(program.size_multiple, 8);
}

}  // namespace
}  // namespace resnet::parity
