// InferencePlan::compile_features: the plan of a backbone hands out the stage outputs the layer-by-layer
// ResNet::forward_features gives (f32 within 1e-4, bf16 close), for classifiers and headless models, dilated
// models and the CIFAR stem (whose stem output is the shortcut of layer1.0: the plan must not add into it).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "resnet/error.h"
#include "resnet/load_state_dict.h"
#include "resnet/model.h"
#include "resnet/plan.h"
#include "resnet/zoo.h"
#include "unit/op_test_util.h"
#include "unit/plan_test_util.h"

namespace resnet {
namespace {

using test::make_model;
using test::random_tensor;
using test::relative_difference;

struct FeatureCase {
  std::string arch;
  std::string stem;  // "" = the architecture's own
  bool dilated = false;
  bool classifier = true;
};

std::unique_ptr<ResNet> make_case_model(const FeatureCase& c) {
  ResNetConfig config = zoo_config(c.arch);
  apply_stem(config, c.stem);
  if (c.dilated) config.replace_stride_with_dilation = {false, true, true};
  config.classifier = c.classifier;
  auto built = std::make_unique<ResNet>(config, 11);
  // make_model's batch-norm statistics and weights (a headless model takes all but fc).
  load_state_dict(*built, make_model(c.arch)->state_dict(), false, "make_model");
  built->set_training(false);
  return built;
}

std::vector<std::string> all_stages(const ResNet& model) {
  return model.stage_names();
}

class PlanFeatures : public ::testing::TestWithParam<FeatureCase> {};

TEST_P(PlanFeatures, EveryStageEqualsForwardFeatures) {
  auto model = make_case_model(GetParam());
  const int64_t size = GetParam().arch == "resnet20" || GetParam().stem == "cifar" ? 16 : 32;
  const Tensor x = random_tensor({2, size, size, 3}, 5);
  const std::vector<std::string> stages = all_stages(*model);
  const std::vector<Tensor> expected = model->forward_features(x, stages);
  for (const Precision precision : {Precision::f32, Precision::bf16}) {
    InferencePlan plan = InferencePlan::compile_features(*model, stages, precision, x.shape());
    EXPECT_EQ(plan.output_names(), stages);
    const std::vector<Tensor> got = plan.run_features(x);
    ASSERT_EQ(got.size(), stages.size());
    for (size_t i = 0; i < stages.size(); ++i) {
      EXPECT_EQ(plan.output_shapes()[i], expected[i].shape()) << stages[i];
      // bf16: bf16 weights and activations through up to ~50 layers (test_plan.cpp holds bf16 logits to
      // 5e-2).
      const double tolerance = precision == Precision::f32 ? 1e-4 : 5e-2;
      EXPECT_LT(relative_difference(got[i], expected[i]), tolerance)
          << stages[i] << " " << precision_name(precision);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backbones, PlanFeatures,
                         ::testing::Values(FeatureCase{"resnet18"}, FeatureCase{"resnet50"},
                                           FeatureCase{"resnet50", "", true}, FeatureCase{"resnet20"},
                                           FeatureCase{"resnet18", "cifar"},
                                           FeatureCase{"resnet34", "", false, false}),
                         [](const auto& info) {
                           const FeatureCase& c = info.param;
                           return c.arch + (c.stem.empty() ? "" : "_" + c.stem) +
                                  (c.dilated ? "_dilated" : "") + (c.classifier ? "" : "_headless");
                         });

TEST(PlanFeatures, StopsAtTheDeepestStageAndKeepsTheAskedOrder) {
  auto model = make_model("resnet18");
  const Tensor x = random_tensor({1, 64, 64, 3}, 6);
  const std::vector<std::string> stages = {"layer2", "stem"};
  InferencePlan plan = InferencePlan::compile_features(*model, stages, Precision::f32, x.shape());
  EXPECT_EQ(plan.output_shapes(), (std::vector<Shape>{{1, 8, 8, 128}, {1, 32, 32, 64}}));
  EXPECT_EQ(plan.describe().find("layer3"), std::string::npos) << plan.describe();
  const std::vector<Tensor> expected = model->forward_features(x, stages);
  const std::vector<Tensor> got = plan.run_features(x);
  for (size_t i = 0; i < stages.size(); ++i) EXPECT_LT(relative_difference(got[i], expected[i]), 1e-4);
}

TEST(PlanFeatures, RefusesUnknownRepeatedStagesInt8AndTheWrongRun) {
  auto model = make_model("resnet18");
  const Shape shape = {1, 32, 32, 3};
  EXPECT_THROW(InferencePlan::compile_features(*model, {"layer5"}, Precision::f32, shape), InputError);
  EXPECT_THROW(InferencePlan::compile_features(*model, {"layer1", "layer1"}, Precision::f32, shape),
               InputError);
  EXPECT_THROW(InferencePlan::compile_features(*model, {}, Precision::f32, shape), InputError);
  EXPECT_THROW(InferencePlan::compile_features(*model, {"layer1"}, Precision::int8, shape), InputError);
  InferencePlan features = InferencePlan::compile_features(*model, {"layer1"}, Precision::f32, shape);
  EXPECT_THROW(features.run(random_tensor(shape, 1)), InputError);
  InferencePlan logits = InferencePlan::compile(*model, Precision::f32, shape);
  EXPECT_EQ(logits.output_names(), std::vector<std::string>{"logits"});
  EXPECT_THROW(logits.run_features(random_tensor(shape, 1)), InputError);
}

}  // namespace
}  // namespace resnet
