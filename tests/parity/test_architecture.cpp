// The architecture is torchvision's: the same parameter count, the same state_dict (names, shapes, dtypes and
// order) and the same print(model), for every fixture model; zero_init_residual zeroes the same BN weights.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "parity/fixtures.h"
#include "resnet/model.h"
#include "resnet/module.h"

namespace resnet::parity {
namespace {

class ParityArchitecture : public ::testing::TestWithParam<std::string> {};

TEST_P(ParityArchitecture, ParameterCountEqualsTorchvision) {
  SKIP_WITHOUT_FIXTURES();
  const auto keys = load_json(fixture_path(GetParam() + ".keys.json"));
  auto model = build_fixture_model(GetParam());
  EXPECT_EQ(model->parameter_count(), keys.at("parameter_count").get<int64_t>());
}

// Each entry "name [shape] dtype", so a failure shows the first differing line with its position.
TEST_P(ParityArchitecture, StateDictNamesShapesDtypesAndOrderEqualTorchvision) {
  SKIP_WITHOUT_FIXTURES();
  const auto keys = load_json(fixture_path(GetParam() + ".keys.json"));
  std::vector<std::string> theirs;
  for (const auto& entry : keys.at("state_dict")) {
    theirs.push_back(entry.at(0).get<std::string>() + " " + shape_str(entry.at(1).get<Shape>()) + " " +
                     entry.at(2).get<std::string>());
  }
  auto model = build_fixture_model(GetParam());
  std::vector<std::string> ours;
  for (const NamedTensor& t : model->state_dict()) {
    ours.push_back(t.name + " " + shape_str(t.tensor.shape()) + " " +
                   std::string(dtype_name(t.tensor.dtype())));
  }
  ASSERT_EQ(ours.size(), theirs.size()) << "state_dict entries";
  for (size_t i = 0; i < ours.size(); ++i) ASSERT_EQ(ours[i], theirs[i]) << "state_dict entry " << i;
}

TEST_P(ParityArchitecture, ModuleReprEqualsTorchvisionPrint) {
  SKIP_WITHOUT_FIXTURES();
  const std::string theirs = read_text(fixture_path(GetParam() + ".print.txt"));
  auto model = build_fixture_model(GetParam());
  const std::string ours = module_repr(*model);
  if (ours == theirs) return;
  // Point at the first differing line: the whole text of a resnet152 is 30 kB.
  std::istringstream a(ours), b(theirs);
  std::string line_a, line_b;
  for (int line = 1;; ++line) {
    const bool more_a = static_cast<bool>(std::getline(a, line_a));
    const bool more_b = static_cast<bool>(std::getline(b, line_b));
    if (!more_a && !more_b) break;
    ASSERT_EQ(more_a ? line_a : "<end>", more_b ? line_b : "<end>") << "print(model) line " << line;
  }
  FAIL() << "module_repr differs from torchvision's print (line endings?)";
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ParityArchitecture, ::testing::ValuesIn(fixture_models()),
                         [](const auto& info) { return param_name(info.param); });

class ParityZeroInitResidual : public ::testing::TestWithParam<std::string> {};

// torchvision's zero_init_residual=True zeroes the last BN weight of every residual branch (bn2 in
// BasicBlock, bn3 in Bottleneck); every other BN weight stays 1.
TEST_P(ParityZeroInitResidual, ZeroesExactlyTheBatchNormWeightsTorchvisionZeroes) {
  SKIP_WITHOUT_FIXTURES();
  const auto expected = load_json(fixture_path("zero_init_residual.json")).at(GetParam());
  ResNetConfig config = zoo_config(GetParam());
  config.zero_init_residual = true;
  ResNet model(config, /*seed=*/0);

  std::vector<std::string> zeroed;
  for (const NamedTensor& t : model.state_dict()) {
    if (t.tensor.rank() != 1 || !t.name.ends_with(".weight")) continue;
    const float* w = t.tensor.f32();
    bool all_zero = true, all_one = true;
    for (int64_t i = 0; i < t.tensor.numel(); ++i) {
      all_zero = all_zero && w[i] == 0.0f;
      all_one = all_one && w[i] == 1.0f;
    }
    if (all_zero)
      zeroed.push_back(t.name);
    else
      EXPECT_TRUE(all_one) << t.name << ": a BN weight neither zeroed nor 1";
  }
  EXPECT_EQ(zeroed, expected.get<std::vector<std::string>>());
  EXPECT_FALSE(zeroed.empty());
}

TEST_P(ParityZeroInitResidual, LeavesEveryBatchNormWeightAtOneWhenOff) {
  ResNet model(zoo_config(GetParam()), /*seed=*/0);
  for (const NamedTensor& t : model.state_dict()) {
    if (t.tensor.rank() != 1 || !t.name.ends_with(".weight")) continue;
    const float* w = t.tensor.f32();
    for (int64_t i = 0; i < t.tensor.numel(); ++i) ASSERT_EQ(w[i], 1.0f) << t.name << "[" << i << "]";
  }
}

INSTANTIATE_TEST_SUITE_P(Models, ParityZeroInitResidual, ::testing::Values("resnet18", "resnet50"),
                         [](const auto& info) { return param_name(info.param); });

}  // namespace
}  // namespace resnet::parity
