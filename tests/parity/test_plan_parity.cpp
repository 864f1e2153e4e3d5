// The compiled inference plan against torchvision: the oracle's weights (randomized BN statistics included)
// give torch's logits through the fused plan as through the layer-by-layer model. f32: max |plan - torch| <=
// 1e-4 * max |torch|. bf16 (8-bit mantissa weights and activations, f32 accumulation): within
// bf16_tolerance(model) * max |torch|, and the same top-1 wherever torch's winner leads by more than twice
// the largest error.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "parity/fixtures.h"
#include "resnet/load_state_dict.h"
#include "resnet/model.h"
#include "resnet/plan.h"
#include "resnet/weights.h"

namespace resnet::parity {
namespace {

// bf16 tolerance, relative to max |torch|. Measured on these fixtures (torchvision's init with randomized BN
// statistics): 0.5% to 4% up to 101 layers, 11% for resnet152, whose 50 blocks each round the residual
// stream to bf16 again.
double bf16_tolerance(const std::string& model) {
  return model == "resnet152" ? 0.15 : 0.05;
}

struct PlanCase {
  std::string model;  // fixture model
  std::string input;  // "b2_64", "b1_224", "b2_97x131"
  Precision precision = Precision::f32;
};

std::string case_name(const PlanCase& c) {
  return param_name(c.model + "_" + c.input + "_" + std::string(precision_name(c.precision)));
}

class ParityPlan : public ::testing::TestWithParam<PlanCase> {};

TEST_P(ParityPlan, PlanGivesTorchvisionLogits) {
  SKIP_WITHOUT_FIXTURES();
  const PlanCase& c = GetParam();
  auto model = build_fixture_model(c.model);
  const std::string weights = fixture_path(c.model + ".safetensors");
  load_state_dict(*model, load_weights(weights), /*strict=*/true, weights);
  model->set_training(false);

  const Tensor input = nchw_to_nhwc(load_fixture_npy(c.model + "." + c.input + ".input.npy"));
  const Tensor expected = load_fixture_npy(c.model + "." + c.input + ".logits.npy");
  InferencePlan plan = InferencePlan::compile(*model, c.precision, input.shape());
  const Tensor logits = plan.run(input);

  ASSERT_EQ(shape_str(logits.shape()), shape_str(expected.shape()));
  const Difference d = difference(logits, expected);
  report_difference(case_name(c), d);
  const double tolerance = c.precision == Precision::f32 ? kLogitsTolerance : bf16_tolerance(c.model);
  EXPECT_LE(d.ratio(), tolerance) << "max |plan - torch| = " << d.max_abs
                                  << ", max |torch| = " << d.max_reference;

  const int64_t classes = expected.dim(1);
  for (int64_t i = 0; i < expected.dim(0); ++i) {
    const float* want = expected.f32() + i * classes;
    const float* got = logits.f32() + i * classes;
    const int64_t top_want = std::max_element(want, want + classes) - want;
    const int64_t top_got = std::max_element(got, got + classes) - got;
    EXPECT_TRUE(top_got == top_want || want[top_want] - want[top_got] <= 2 * d.max_abs)
        << "image " << i << ": plan picks " << top_got << ", torch " << top_want;
  }
}

std::vector<PlanCase> plan_cases() {
  std::vector<PlanCase> cases;
  for (Precision precision : {Precision::f32, Precision::bf16}) {
    for (const std::string& model : fixture_models()) cases.push_back({model, "b2_64", precision});
    for (const char* model : {"resnet18", "resnet50"}) {
      cases.push_back({model, "b1_224", precision});
      cases.push_back({model, "b2_97x131", precision});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ParityPlan, ::testing::ValuesIn(plan_cases()),
                         [](const auto& info) { return case_name(info.param); });

}  // namespace
}  // namespace resnet::parity
