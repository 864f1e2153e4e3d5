// Backward parity with torch autograd: the same weights and batch, one train-mode forward, and backward from
// the same dL/dlogits (so no loss function is involved) give torch's gradient for every parameter and for the
// input: per tensor, max |ours - torch| <= 1e-3 * max |torch|. The reference gradients are torch's computed
// in float64 from the same float32 weights and inputs (tests/oracle/make_grad_fixtures.py, which also checks
// that torch's own float32 gradients stay within 2e-4 of them, so the tolerance measures correctness, not
// conditioning). Training's f32 3x3 stride-1 convolutions run through Winograd F(4x4, 3x3) by default
// (src/dnnl/conv_winograd.h): the models are checked with it on, and resnet18 / resnet20 also with
// --no-winograd's direct convolutions.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "dnnl/ops.h"
#include "parity/fixtures.h"
#include "resnet/load_state_dict.h"
#include "resnet/model.h"
#include "resnet/weights.h"
#include "resnet/zoo.h"

namespace resnet::parity {
namespace {

constexpr double kGradientTolerance = 1e-3;

// The gradient fixtures come from their own script. Runs it when its output is missing or older than the
// script (the script itself skips work when its stamp matches, and serializes concurrent runs).
void ensure_grad_fixtures() {
  namespace fs = std::filesystem;
  const fs::path script = fs::path(__FILE__).parent_path().parent_path() / "oracle" / "make_grad_fixtures.py";
  const fs::path stamp = fs::path(fixtures_dir()) / "grad.stamp.json";
  if (fs::exists(stamp) && fs::last_write_time(stamp) >= fs::last_write_time(script)) return;
  const std::string command = "/usr/bin/python3 " + script.string() + " " + fixtures_dir();
  ASSERT_EQ(std::system(command.c_str()), 0) << "failed: " << command;
}

using WinogradFor = ops::ConvWinogradScope;

void expect_torch_gradients(const std::string& arch, bool winograd) {
  const WinogradFor scope(winograd);
  const std::string path = winograd ? "" : " --no-winograd";
  const std::string prefix = "grad." + arch;
  ResNet model(zoo_config(arch));
  const std::string weights = fixture_path(prefix + ".weights.pth");
  load_state_dict(model, load_weights(weights), /*strict=*/true, weights);
  model.set_training(true);

  const Tensor logits = model.forward(nchw_to_nhwc(load_fixture_npy(prefix + ".input.npy")));
  const Tensor dlogits = load_fixture_npy(prefix + ".dlogits.npy");
  ASSERT_EQ(shape_str(logits.shape()), shape_str(dlogits.shape()));
  const Tensor dx = nhwc_to_nchw(model.backward(dlogits));

  std::map<std::string, Tensor> expected;
  for (NamedTensor& t : load_weights(fixture_path(prefix + ".grads.pth"))) expected[t.name] = t.tensor;
  ASSERT_EQ(model.parameters().size(), expected.size());
  std::string worst_name;
  Difference worst;
  for (Parameter* p : model.parameters()) {
    SCOPED_TRACE(p->name);
    ASSERT_TRUE(expected.count(p->name)) << "torch has no gradient for it";
    ASSERT_TRUE(p->grad.defined()) << "backward left no gradient";
    const Tensor& reference = expected.at(p->name);
    ASSERT_EQ(shape_str(p->grad.shape()), shape_str(reference.shape()));
    const Difference d = difference(p->grad, reference);
    EXPECT_LE(d.ratio(), kGradientTolerance)
        << "max |ours - torch| = " << d.max_abs << ", max |torch| = " << d.max_reference;
    if (worst_name.empty() || d.ratio() > worst.ratio()) {
      worst = d;
      worst_name = p->name;
    }
  }
  report_difference(arch + path + " worst parameter gradient (" + worst_name + ")", worst);

  const Tensor expected_dx = load_fixture_npy(prefix + ".dx.npy");
  ASSERT_EQ(shape_str(dx.shape()), shape_str(expected_dx.shape()));
  const Difference d = difference(dx, expected_dx);
  report_difference(arch + path + " input gradient", d);
  EXPECT_LE(d.ratio(), kGradientTolerance)
      << "input: max |ours - torch| = " << d.max_abs << ", max |torch| = " << d.max_reference;
}

class ParityGradients : public ::testing::TestWithParam<std::string> {};

TEST_P(ParityGradients, EveryParameterAndInputGradientMatchesTorchAutograd) {
  SKIP_WITHOUT_FIXTURES();
  ASSERT_NO_FATAL_FAILURE(ensure_grad_fixtures());
  expect_torch_gradients(GetParam(), /*winograd=*/true);
}

class ParityGradientsDirect : public ::testing::TestWithParam<std::string> {};

TEST_P(ParityGradientsDirect, EveryParameterAndInputGradientMatchesTorchAutogradWithoutWinograd) {
  SKIP_WITHOUT_FIXTURES();
  ASSERT_NO_FATAL_FAILURE(ensure_grad_fixtures());
  expect_torch_gradients(GetParam(), /*winograd=*/false);
}

INSTANTIATE_TEST_SUITE_P(Models, ParityGradients,
                         ::testing::Values("resnet18", "resnet50", "resnext50_32x4d", "resnet20"),
                         [](const auto& info) { return param_name(info.param); });
INSTANTIATE_TEST_SUITE_P(Models, ParityGradientsDirect, ::testing::Values("resnet18", "resnet20"),
                         [](const auto& info) { return param_name(info.param); });

}  // namespace
}  // namespace resnet::parity
