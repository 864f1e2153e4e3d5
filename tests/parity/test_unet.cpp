// The U-Net against segmentation_models_pytorch 0.6 (tests/oracle/make_unet_fixtures.py, in
// $RESNET_FIXTURES/unet): smp's state_dict loads strictly and ours has exactly its keys, shapes and order (so
// ours loads in smp with strict=True); eval- and train-mode logits within 1e-4 relative; every parameter's
// gradient of a Dice + cross-entropy loss within 1e-3 relative; `resnet convert` of smp's .pth then
// `resnet infer --no-fuse` gives smp's logits.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "parity/fixtures.h"
#include "resnet/load_state_dict.h"
#include "resnet/unet.h"
#include "resnet/weights.h"

namespace resnet::parity {
namespace {

constexpr double kGradientTolerance = 1e-3;

struct UnetCase {
  std::string name, encoder;
  int in_channels = 3, classes = 1, depth = 5;
};

// make_unet_fixtures.py's CASES, in its order (the test's parameters exist before main, and so before the
// environment names the fixtures folder; CasesAreTheFixturesOwn checks that the two lists agree).
std::vector<UnetCase> unet_cases() {
  std::vector<UnetCase> cases = {{"", "resnet18", 1, 1, 5},
                                 {"", "resnet34", 3, 11, 4},
                                 {"", "resnet50", 4, 11, 5},
                                 {"", "resnet18", 3, 1, 4}};
  for (UnetCase& c : cases)
    c.name = fmt::format("unet-{}_c{}_k{}_d{}", c.encoder, c.in_channels, c.classes, c.depth);
  return cases;
}

std::string unet_file(const UnetCase& c, const std::string& suffix) {
  return fixture_path("unet/" + c.name + suffix);
}

std::unique_ptr<UNet> build_case_model(const UnetCase& c) {
  auto model = std::make_unique<UNet>(unet_zoo_config("unet-" + c.encoder, c.classes, c.in_channels, c.depth),
                                      /*seed=*/1, Init::none);
  load_state_dict(*model, load_weights(unet_file(c, ".safetensors")), /*strict=*/true);
  return model;
}

// NCHW fixture -> NHWC tensor, and back for comparing logits as smp returns them.
Tensor load_nhwc(const UnetCase& c, const std::string& suffix) {
  return nchw_to_nhwc(load_npy(unet_file(c, suffix)));
}

void expect_logits(const UnetCase& c, const Tensor& logits_nhwc, const std::string& suffix,
                   const std::string& what) {
  const Tensor ours = nhwc_to_nchw(logits_nhwc);
  const Tensor expected = load_npy(unet_file(c, suffix));
  ASSERT_EQ(shape_str(ours.shape()), shape_str(expected.shape()));
  const Difference d = difference(ours, expected);
  report_difference(c.name + " " + what, d);
  EXPECT_LE(d.ratio(), kLogitsTolerance) << what;
}

class UnetParity : public ::testing::TestWithParam<UnetCase> {
 protected:
  void SetUp() override { SKIP_WITHOUT_FIXTURES(); }
};

TEST_P(UnetParity, StateDictHasSmpsKeysShapesAndOrder) {
  const UnetCase& c = GetParam();
  UNet model(unet_zoo_config("unet-" + c.encoder, c.classes, c.in_channels, c.depth), 0, Init::none);
  const StateDict ours = model.state_dict();
  const nlohmann::json expected = load_json(unet_file(c, ".keys.json"));
  ASSERT_EQ(ours.size(), expected.size());
  for (size_t i = 0; i < ours.size(); ++i) {
    const std::string key = expected[i][0];
    EXPECT_EQ(ours[i].name, key) << "at " << i;
    EXPECT_EQ(ours[i].tensor.shape(), expected[i][1].get<Shape>()) << key;
    EXPECT_EQ(std::string(dtype_name(ours[i].tensor.dtype())) == "i64", expected[i][2] == "int64") << key;
  }
}

TEST_P(UnetParity, EvalAndTrainLogitsAndGradientsEqualSmps) {
  const UnetCase& c = GetParam();
  auto model = build_case_model(c);
  const Tensor x = load_nhwc(c, ".input.npy");

  model->set_training(false);
  expect_logits(c, model->forward(x), ".eval.npy", "eval logits");

  model->set_training(true);
  expect_logits(c, model->forward(x), ".train.npy", "train logits");
  model->zero_grad();
  const Tensor dx = model->backward(load_nhwc(c, ".dlogits.npy"));
  EXPECT_TRUE(dx.defined());

  std::map<std::string, Tensor> expected;
  for (NamedTensor& t : load_weights(unet_file(c, ".grads.safetensors"))) expected[t.name] = t.tensor;
  double worst = 0;
  for (Parameter* p : model->parameters()) {
    if (p->value.dtype() != DType::f32) continue;  // num_batches_tracked
    const auto it = expected.find(p->name);
    if (it == expected.end()) {
      // smp never ran it (the encoder's stages below the depth): no gradient, or zeros.
      if (p->grad.defined()) {
        EXPECT_EQ(difference(p->grad, Tensor::zeros(p->grad.shape())).max_abs, 0.0) << p->name;
      }
      continue;
    }
    ASSERT_TRUE(p->grad.defined()) << p->name << ": no gradient";
    ASSERT_EQ(p->grad.shape(), it->second.shape()) << p->name;
    const Difference d = difference(p->grad, it->second);
    worst = std::max(worst, d.ratio());
    EXPECT_LE(d.ratio(), kGradientTolerance)
        << p->name << ": max|ours - smp| = " << d.max_abs << ", max|smp| = " << d.max_reference;
  }
  std::printf("[ parity   ] %s: worst parameter gradient ratio %.3g over %zu gradients\n", c.name.c_str(),
              worst, expected.size());
}

INSTANTIATE_TEST_SUITE_P(Smp, UnetParity, ::testing::ValuesIn(unet_cases()),
                         [](const auto& info) { return param_name(info.param.name); });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(UnetParity);

// $RESNET_BIN, else the build tree's tool beside tests/.
std::string resnet_bin() {
  if (const char* env = std::getenv("RESNET_BIN")) return env;
  return "";
}

int run(const std::string& command) {
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(UnetParityCli, CasesAreTheFixturesOwn) {
  SKIP_WITHOUT_FIXTURES();
  const nlohmann::json written = load_json(fixture_path("unet/unet.json"))["cases"];
  const std::vector<UnetCase> cases = unet_cases();
  ASSERT_EQ(written.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(written[i]["name"], cases[i].name);
    EXPECT_EQ(written[i]["in_channels"], cases[i].in_channels);
    EXPECT_EQ(written[i]["classes"], cases[i].classes);
    EXPECT_EQ(written[i]["depth"], cases[i].depth);
  }
}

TEST(UnetParityCli, ConvertOfSmpsPthThenInferNoFuseGivesSmpsLogits) {
  SKIP_WITHOUT_FIXTURES();
  const UnetCase c = unet_cases().front();  // the case the fixture also saved as .pth
  const std::string bin = resnet_bin();
  if (bin.empty()) GTEST_SKIP() << "RESNET_BIN is not set";
  const char* tmp = std::getenv("RESNET_TEST_TMP");
  const std::filesystem::path dir = std::filesystem::path(tmp ? tmp : "/tmp") / "parity_unet";
  std::filesystem::create_directories(dir);
  const std::string weights = (dir / (c.name + ".safetensors")).string();
  const std::string logits = (dir / (c.name + ".logits.npy")).string();
  const std::string log = (dir / "cli.log").string();

  const std::string convert = bin + " convert " + unet_file(c, ".pth") + " " + weights + " >" + log + " 2>&1";
  ASSERT_EQ(run(convert), 0) << convert << "\n" << read_text(log);
  const std::string infer = fmt::format(
      "{} infer --arch unet-{} --encoder-depth {} --in-channels {} --num-classes {} --weights {} --input-npy "
      "{} "
      "--output-npy {} --no-fuse >{} 2>&1",
      bin, c.encoder, c.depth, c.in_channels, c.classes, weights, unet_file(c, ".input.npy"), logits, log);
  ASSERT_EQ(run(infer), 0) << infer << "\n" << read_text(log);
  const Tensor ours = load_npy(logits);
  const Tensor expected = load_npy(unet_file(c, ".eval.npy"));
  ASSERT_EQ(shape_str(ours.shape()), shape_str(expected.shape()));
  const Difference d = difference(ours, expected);
  report_difference("resnet convert + infer --no-fuse " + c.name, d);
  EXPECT_LE(d.ratio(), kLogitsTolerance);
}

}  // namespace
}  // namespace resnet::parity
