// Eval-mode forward parity: torchvision's weights (randomized BN statistics included), loaded from
// torch.save's .pth or from .safetensors, give torchvision's logits: max |ours - torch| <= 1e-4 * max
// |torch|. The reference logits are torch's computed in float64 from the same float32 weights (see
// tests/oracle/make_fixtures.py).
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "parity/fixtures.h"
#include "resnet/load_state_dict.h"
#include "resnet/model.h"
#include "resnet/weights.h"

namespace resnet::parity {
namespace {

struct EvalCase {
  std::string model;    // fixture model
  std::string weights;  // "pth" or "safetensors"
  std::string input;    // case tag: "b2_64", "b1_224", "b2_97x131"
};

std::string case_name(const EvalCase& c) {
  return param_name(c.model + "_" + c.input + "_" + c.weights);
}
// gtest prints parameters in test listings (and so in ctest's names); without this, as raw bytes.
void PrintTo(const EvalCase& c, std::ostream* os) {
  *os << case_name(c);
}

// Loads <model>.<weights>, runs <model>.<input>.input.npy (NCHW) and compares with
// <model>.<input>.logits.npy.
void expect_torchvision_logits(const EvalCase& c) {
  auto model = build_fixture_model(c.model);
  const std::string weights = fixture_path(c.model + "." + c.weights);
  load_state_dict(*model, load_weights(weights), /*strict=*/true, weights);
  model->set_training(false);

  const Tensor input = load_fixture_npy(c.model + "." + c.input + ".input.npy");
  const Tensor expected = load_fixture_npy(c.model + "." + c.input + ".logits.npy");
  const Tensor logits = model->forward(nchw_to_nhwc(input));

  ASSERT_EQ(shape_str(logits.shape()), shape_str(expected.shape()));
  const Difference d = difference(logits, expected);
  report_difference(case_name(c), d);
  EXPECT_LE(d.ratio(), kLogitsTolerance)
      << "max |ours - torch| = " << d.max_abs << ", max |torch| = " << d.max_reference;
}

std::vector<EvalCase> zoo_cases(const std::string& weights) {
  std::vector<EvalCase> cases;
  for (const std::string& model : fixture_models()) cases.push_back({model, weights, "b2_64"});
  return cases;
}

class ParityEvalPth : public ::testing::TestWithParam<EvalCase> {};
TEST_P(ParityEvalPth, LoadsTorchvisionPthWithSameLogits) {
  SKIP_WITHOUT_FIXTURES();
  expect_torchvision_logits(GetParam());
}
INSTANTIATE_TEST_SUITE_P(Fixtures, ParityEvalPth, ::testing::ValuesIn(zoo_cases("pth")),
                         [](const auto& info) { return param_name(info.param.model); });

class ParityEvalSafetensors : public ::testing::TestWithParam<EvalCase> {};
TEST_P(ParityEvalSafetensors, LoadsSafetensorsWithSameLogits) {
  SKIP_WITHOUT_FIXTURES();
  expect_torchvision_logits(GetParam());
}
INSTANTIATE_TEST_SUITE_P(Fixtures, ParityEvalSafetensors, ::testing::ValuesIn(zoo_cases("safetensors")),
                         [](const auto& info) { return param_name(info.param.model); });

// ImageNet's 224x224 and an odd, non-square size (floor-mode pooling, uneven adaptive pooling bins).
class ParityEvalInputSizes : public ::testing::TestWithParam<EvalCase> {};
TEST_P(ParityEvalInputSizes, SameLogitsAtOtherInputSizes) {
  SKIP_WITHOUT_FIXTURES();
  expect_torchvision_logits(GetParam());
}
INSTANTIATE_TEST_SUITE_P(
    Fixtures, ParityEvalInputSizes,
    ::testing::Values(EvalCase{"resnet18", "pth", "b1_224"}, EvalCase{"resnet18", "pth", "b2_97x131"},
                      EvalCase{"resnet50", "pth", "b1_224"}, EvalCase{"resnet50", "pth", "b2_97x131"}),
    [](const auto& info) { return param_name(info.param.model + "_" + info.param.input); });

}  // namespace
}  // namespace resnet::parity
